"""`manage.py loop_demo`: the whole Tuneloop loop in one process (see `stages` for the stages,
`rubric` for the learnable rubric and the targets, `report` for the report and plots)."""
