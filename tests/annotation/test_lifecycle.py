"""annotation.queue.lifecycle is the only writer of item state and slot counters: no other module
writes them (a scan of the code), and the steps keep the rule in its docstring (check_item)."""

import ast
from pathlib import Path

import pytest

from annotation.models import Item, ItemState
from annotation.queue import lifecycle
from annotation.queue import services as queue_services
from tests.conftest import GOOD_SCORES, make_items

ROOT = Path(__file__).resolve().parents[2]
APPS = ("annotation", "preferences", "training", "evaluation")
OWNER = ROOT / "annotation" / "queue" / "lifecycle.py"
COUNTERS = {"active_count", "submitted_count", "extra_overlap"}
FIELDS = COUNTERS | {"state"}
CREATORS = {"create", "bulk_create", "get_or_create", "update_or_create"}


def _root_name(node):
    """`Item` for Item.objects.filter(...).update, None when the chain starts elsewhere."""
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _mentions(node, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def item_writes(path: Path) -> list[str]:
    """file:line of every write of Item.state / counters and every item creation in one module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, root = node.func.attr, _root_name(node.func.value)
            keywords = {k.arg for k in node.keywords}
            if method == "update" and root == "Item" and keywords & FIELDS:
                found.append(
                    f"{where}:{node.lineno} Item ... .update({', '.join(sorted(keywords & FIELDS))})"
                )
            elif method in CREATORS and root == "Item":
                found.append(f"{where}:{node.lineno} Item.objects.{method}(...)")
            elif method == "update" and keywords & COUNTERS:
                found.append(f"{where}:{node.lineno} .update() of slot counters")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Item":
            found.append(f"{where}:{node.lineno} Item(...)")
        elif isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if not isinstance(t, ast.Attribute):
                        continue
                    if t.attr in COUNTERS or (t.attr == "state" and _mentions(node.value, "ItemState")):
                        found.append(f"{where}:{node.lineno} .{t.attr} = ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr":
            if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value in FIELDS:
                found.append(f"{where}:{node.lineno} setattr(..., {node.args[1].value!r})")
    return found


def app_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts and path != OWNER:
                yield path


def test_only_the_lifecycle_writes_item_state_and_counters():
    writes = [w for path in app_modules() for w in item_writes(path)]
    assert writes == [], "Write item state and slot counters through annotation.queue.lifecycle:\n" + (
        "\n".join(writes)
    )


def test_the_scan_sees_the_writes_it_forbids(tmp_path):
    """The scanner flags each form of write it looks for (so an empty result above means something)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "Item.objects.filter(pk=1).update(state=ItemState.OPEN)\n"
        "Item.objects.filter(pk=1).update(active_count=F('active_count') + 1)\n"
        "qs.update(extra_overlap=2)\n"
        "Item.objects.bulk_create([])\n"
        "Item.objects.get_or_create(project=p)\n"
        "x = Item(project=p)\n"
        "item.state = ItemState.APPROVED\n"
        "item.submitted_count += 1\n"
        "setattr(item, 'extra_overlap', 3)\n"
        "assignment.state = AssignmentState.SUBMITTED\n"  # not an item: allowed
        "Assignment.objects.filter(pk=1).update(state='expired')\n"  # not an item: allowed
    )
    lines = sorted(int(w.split(":")[1].split()[0]) for w in item_writes(sample))
    assert lines == list(range(1, 10))


@pytest.mark.django_db
def test_check_item_follows_a_lease_a_skip_and_a_submit(project, users):
    item = Item.objects.get(pk=make_items(project, users["lead"], 1).item_ids[0])
    assert lifecycle.check_item(item, project) == []
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    b = queue_services.next_assignment(project=project, user=users["annotator2"])
    item.refresh_from_db()
    assert (item.state, item.active_count) == (ItemState.ASSIGNED, 2)
    assert lifecycle.check_item(item, project) == []
    queue_services.skip_assignment(assignment=b, user=users["annotator2"])
    queue_services.submit_judgment(
        assignment=a, user=users["annotator"], decision="accept", scores=GOOD_SCORES
    )
    item.refresh_from_db()
    assert (item.state, item.active_count, item.submitted_count) == (ItemState.OPEN, 1, 1)
    assert lifecycle.expected_counters(item) == {"active_count": 1, "submitted_count": 1}
    assert lifecycle.check_item(item, project) == []
    # a counter out of step with the assignments is reported
    Item.objects.filter(pk=item.pk).update(active_count=2)
    assert lifecycle.check_item(item, project) == [
        f"item {item.pk}: active_count is 2, its assignments say 1",
        f"item {item.pk}: state open, its counters say assigned",
    ]
