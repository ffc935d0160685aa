"""Projects, memberships and roles, versioned rubrics: their write paths, the lead's pages and API."""
