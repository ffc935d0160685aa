"""People: accounts a lead creates for their project, invitations, the one-time password's change."""
