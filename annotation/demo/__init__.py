"""Demo data: the prompts and responses `manage.py demo` seeds a project with."""
