"""`manage.py import_comparisons PROJECT_ID FILE`: import comparisons, all or nothing.

`import_items --kind comparison` with the kind fixed: each line has `prompt` (or `messages`) and
`responses: [{text, model}, ...]` (two or more). Errors name the line and field; nothing is written.
"""

from annotation.management.commands.import_items import Command as ImportItemsCommand


class Command(ImportItemsCommand):
    help = (
        "Import comparisons (prompt or messages, and responses: [{text, model}, ...]) from JSONL or CSV "
        "into a project; all or nothing, duplicates skipped."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(kind="comparison")
        for action in parser._actions:  # the kind is fixed here: hide the option
            if action.dest == "kind":
                action.choices = ["comparison"]

    def handle(self, *args, **opts):
        opts["kind"] = "comparison"
        return super().handle(*args, **opts)
