"""annotation's public plumbing, built on by every app: project scoping and permissions
(`permissions`: `can`, `require`, `register_actions` for an app's own actions; `web`: page helpers),
the API error format and base classes (`api`: `exception_handler`, `ProjectScoped`, `validated`,
shared serializer limits; `schema`: the error responses of every API operation), service errors (`errors`), the audit trail (`audit`),
the rubric format (`rubrics`, pure), chart specs (`charts`, pure), form helpers (`forms`), the
admin base (`admin`), API token authentication with its token -> user cache (`auth`) and the SQL of
ORM writes for one-statement hot paths (`statements`); the Content-Security-Policy middleware (`csp`),
`/healthz` (`health`) and JSON log lines with request ids (`logs`).

Other apps import from annotation only: `core`, `models`, `kinds` (the item-kind contract and
registry, the one task builder, slot letters), `importing` (parser, import service, view, command),
`queue.task_flow` (the annotator's task page flow), `queue.lifecycle` (the only writer of item state)
and `demo`. An import-linter contract ("protected") enforces it.
"""
