"""`manage.py demo` against the tiny model: everything is created once, a second run adds nothing."""

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from annotation.demo import data as demo_data
from annotation.models import Item, Membership, Project, Response, RubricVersion
from tests.fixtures.tiny_models import tiny_model_dir  # noqa: F401  (registers the fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.TUNELOOP_MODEL_CACHE = str(tmp_path / "models")
    return tmp_path


def _run(*args):
    out = io.StringIO()
    call_command("demo", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _counts():
    return {
        "users": get_user_model().objects.count(),
        "projects": Project.objects.count(),
        "memberships": Membership.objects.count(),
        "rubric_versions": RubricVersion.objects.count(),
        "items": Item.objects.count(),
        "responses": Response.objects.count(),
    }


def test_demo_creates_everything_once(tiny_model_dir, data_dir):  # noqa: F811
    first = _run("--model", tiny_model_dir, "--limit", "5", "--max-new-tokens", "8")
    assert "generated 5 of 5" in first
    counts = _counts()
    User = get_user_model()
    assert User.objects.get(username="admin").is_superuser
    for username, (password, _) in demo_data.USERS.items():
        assert User.objects.get(username=username).check_password(password)
        assert password in first
    project = Project.objects.get(name=demo_data.PROJECT_NAME)
    assert project.overlap == 2 and project.guidelines.startswith("# ")
    roles = dict(project.memberships.values_list("user__username", "role"))
    assert roles == {"admin": "admin", "lead": "lead", "annotator1": "annotator", "annotator2": "annotator"}
    version = project.current_rubric_version()
    assert [c["key"] for c in version.criteria] == ["helpfulness", "correctness", "safe", "tone"]
    items = list(project.items.order_by("id"))
    assert [i.external_id for i in items] == [p["id"] for p in demo_data.PROMPTS[:5]]
    assert all(i.source == "demo" and i.kind == "sft" for i in items)
    response = items[0].responses.get()
    assert response.model_name == tiny_model_dir
    assert response.generation_params["max_new_tokens"] == 8
    assert response.text.strip()

    cache = [json.loads(line) for line in (data_dir / "demo_responses.jsonl").read_text().splitlines()]
    assert len(cache) == 5

    # a re-run uses the cache and duplicates nothing
    second = _run("--model", tiny_model_dir, "--limit", "5", "--no-generate")
    assert "generated" not in second
    assert _counts() == counts
    assert "0 new item(s)" in second
    assert len((data_dir / "demo_responses.jsonl").read_text().splitlines()) == 5

    # more prompts: only the missing ones are generated and imported
    third = _run("--model", tiny_model_dir, "--limit", "7", "--max-new-tokens", "8")
    assert "generated 2 of 2" in third
    assert project.items.count() == 7
    assert RubricVersion.objects.count() == counts["rubric_versions"]


def test_no_generate_without_cache_fails_clearly(data_dir, tiny_model_dir):  # noqa: F811
    with pytest.raises(CommandError, match="no cached response"):
        _run("--model", tiny_model_dir, "--limit", "3", "--no-generate")
    assert not Project.objects.exists()


def test_existing_accounts_keep_their_passwords(tiny_model_dir, data_dir, django_user_model):  # noqa: F811
    django_user_model.objects.create_user("lead", password="my-own")
    out = _run("--model", tiny_model_dir, "--limit", "1", "--max-new-tokens", "4")
    lead = django_user_model.objects.get(username="lead")
    assert lead.check_password("my-own")
    assert "not reset" in out
    assert Membership.objects.get(user=lead).role == "lead"
