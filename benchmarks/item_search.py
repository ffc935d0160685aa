"""Items page search timings: the count and the first page as `annotation.quality.views_items` reads
them (`item_list.filtered_parts`, `capped_count`, `keyset.paginate_union`), best of 3, on the
project with the most items of DATABASE_URL's database (read only; the `scale_seed.py` prompts).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/COPY_OF_BENCH .venv/bin/python benchmarks/item_search.py LABEL
"""

# ruff: noqa: E402 - sys.path is fixed before the other imports
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_DEBUG"] = "0"

import django

django.setup()

from django.db.models import Count

from annotation.core import keyset
from annotation.models import Item
from annotation.quality import item_list
from annotation.quality.item_list import ItemFilters

SEARCHES = [
    ("one prompt", {"q": "question 4242:"}),
    ("every prompt", {"q": "explain topic"}),
    ("a model in the responses", {"q": "from gamma-70b"}),
    ("nothing", {"q": "no such words"}),
    ("+ filters, 200 a page", {"q": "topic 5", "kind": "sft", "gold": "no", "disputed": "no"}),
]


def main(label: str) -> None:
    pid = Item.objects.values("project").annotate(n=Count("id")).order_by("-n")[0]["project"]
    for name, fields in SEARCHES:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            parts = item_list.filtered_parts(Item.objects.filter(project_id=pid), ItemFilters(**fields))
            count = item_list.capped_count(parts)
            page = keyset.paginate_union(parts, ["-id"], {}, 200 if "kind" in fields else 50)
            times.append(time.perf_counter() - start)
        print(
            f"{label:>28} {name:>26} {min(times) * 1000:8.0f} ms  count={count} rows={len(page.object_list)}"
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
