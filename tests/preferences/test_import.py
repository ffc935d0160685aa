"""`manage.py import_comparisons` (all or nothing, line-numbered errors) and `manage.py demo_comparisons`."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Item, Project
from tests.fixtures.tiny_models import tiny_model_dir  # noqa: F401  (registers the fixture)
from tests.preferences.factories import comparison_lines, make_cmp_project

pytestmark = pytest.mark.django_db


def run(name, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_comparisons_command(users, tmp_path):
    p = make_cmp_project(users)
    path = tmp_path / "cmp.jsonl"
    path.write_text(comparison_lines(4, models=("x", "y", "z")))
    out, _ = run("import_comparisons", str(p.pk), str(path))
    assert "Imported 4 item(s)" in out
    items = Item.objects.filter(project=p)
    assert items.count() == 4 and {i.kind for i in items} == {"comparison"}
    assert all(i.responses.count() == 3 for i in items)
    out, _ = run("import_comparisons", str(p.pk), str(path), "--as", "lead")
    assert "0 item(s)" in out and "4 duplicate(s)" in out


def test_import_comparisons_errors_write_nothing(users, tmp_path):
    p = make_cmp_project(users)
    path = tmp_path / "bad.jsonl"
    good = comparison_lines(1)
    # A row with a single `response` is an SFT row: as a comparison it lacks `responses`.
    path.write_text("\n".join([good, json.dumps({"prompt": "p", "response": "r"}), "[1, 2]"]))
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 error"):
        call_command("import_comparisons", str(p.pk), str(path), stdout=io.StringIO(), stderr=err)
    assert "line 2, field 'responses'" in err.getvalue()
    assert "line 3" in err.getvalue()
    assert not Item.objects.exists()
    with pytest.raises(CommandError, match="No project"):
        run("import_comparisons", "999", str(path))


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.TUNELOOP_MODEL_CACHE = str(tmp_path / "models")
    return tmp_path


def test_demo_comparisons_with_the_tiny_model(tiny_model_dir, data_dir):  # noqa: F811
    run("demo", "--model", tiny_model_dir, "--limit", "7", "--max-new-tokens", "8")
    project = Project.objects.get(name__startswith="Demo")
    out, err = run(
        "demo_comparisons", "--model", tiny_model_dir, "--pairs", "4", "--nway", "2", "--max-new-tokens", "8",
        "--batch-size", "2",
    )  # fmt: skip
    comparisons = Item.objects.filter(project=project, kind="comparison")
    assert f"Added {comparisons.count()} comparison(s)" in out
    # 8 generations (4 pairs, 2 three-way) in batches of 2 prompts: the start, then a line after each of
    # the 4 generate calls (pairs 1-2, pairs 3-4, the three-way ones at each temperature).
    progress = [line for line in err.splitlines() if line.startswith("sampling [")]
    assert progress[0].startswith("sampling [--------------------] 0/8   0%") and "ETA ?" in progress[0]
    assert progress[-1].startswith("sampling [####################] 8/8 100%")
    assert len(progress) == 1 + 4 and all(" ETA " in line for line in progress)
    sizes = sorted(i.responses.count() for i in comparisons)
    assert sizes.count(3) >= 1 and sizes.count(2) >= 3 and len(sizes) <= 6
    versions = {r.model_version for i in comparisons for r in i.responses.all()}
    assert {"t1", "t1.3"} <= versions
    before = comparisons.count()
    out, _ = run(
        "demo_comparisons", "--model", tiny_model_dir, "--pairs", "4", "--nway", "2", "--max-new-tokens", "8"
    )
    assert Item.objects.filter(project=project, kind="comparison").count() == before  # idempotent
    if before == 6:  # every prompt got its comparison: the second run loads no model
        assert out.startswith("Nothing to add: all 6 comparison(s)")


def test_demo_comparisons_skips_when_the_model_is_missing(tiny_model_dir, data_dir, tmp_path):  # noqa: F811
    run("demo", "--model", tiny_model_dir, "--limit", "3", "--max-new-tokens", "8")
    out, err = run("demo_comparisons", "--model", str(tmp_path / "no-such-model"))
    assert "Skipped" in err and "No comparisons were added" in err
    assert not Item.objects.filter(kind="comparison").exists()


def test_demo_comparisons_needs_the_demo_project(data_dir):
    with pytest.raises(CommandError, match="manage.py demo"):
        run("demo_comparisons")
