"""annotation's public plumbing, the only part of annotation other apps build on (besides `models`,
`serializers`, `kinds` and `queue.task_flow`): project scoping and permissions (`permissions`, `web`),
the API error format and base classes (`api`), service errors (`errors`), the audit trail (`audit`),
form helpers (`forms`) and the admin base (`admin`)."""
