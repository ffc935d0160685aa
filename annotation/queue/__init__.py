"""The assignment queue: the next item, leases, submit and skip, and the annotator's task-page flow."""
