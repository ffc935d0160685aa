"""Rubric versions: immutable once used, edits make the next version, judgments keep theirs.

Criteria and score validation errors name the offending field.
"""

import pytest
from django.db.models import ProtectedError

from annotation.core.errors import Forbidden, InvalidInput
from annotation.models import Judgment, RubricVersion, RubricVersionLocked
from annotation.projects import services as project_services
from annotation.queue import services as queue_services
from tests.conftest import CRITERIA, GOOD_SCORES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def judge(project, user, **kw):
    a = queue_services.next_assignment(project=project, user=user)
    return queue_services.submit_judgment(
        assignment=a,
        user=user,
        decision=kw.pop("decision", "accept"),
        scores=kw.pop("scores", GOOD_SCORES),
        **kw,
    )


def test_an_unused_version_can_still_be_edited_and_deleted(project):
    v1 = project.current_rubric_version()
    assert not v1.is_locked
    v1.instructions = "Clearer instructions."
    v1.save()
    v1.refresh_from_db()
    assert v1.instructions == "Clearer instructions."
    v1.delete()
    assert not RubricVersion.objects.filter(pk=v1.pk).exists()


def test_a_used_version_cannot_be_saved_or_deleted(project, items, users):
    judgment = judge(project, users["annotator"])
    v1 = judgment.rubric_version
    assert v1.number == 1 and v1.is_locked
    v1.criteria = [{"key": "other", "type": "binary"}]
    with pytest.raises(RubricVersionLocked):
        v1.save()
    with pytest.raises(RubricVersionLocked):
        v1.delete()
    # The bulk path bypasses Model.delete; the PROTECT foreign key still holds.
    with pytest.raises(ProtectedError):
        RubricVersion.objects.filter(pk=v1.pk).delete()
    v1.refresh_from_db()
    assert [c["key"] for c in v1.criteria] == [c["key"] for c in CRITERIA]


def test_editing_makes_v2_and_judgments_keep_their_version(project, items, users):
    old = judge(project, users["annotator"])
    v2 = project_services.create_rubric_version(
        project=project,
        actor=users["lead"],
        criteria=[*CRITERIA, {"key": "concise", "type": "binary"}],
        changelog="Add concision.",
    )
    assert v2.number == 2 and v2.rubric_id == old.rubric_version.rubric_id
    assert project.current_rubric_version() == v2
    old.refresh_from_db()
    assert old.rubric_version.number == 1
    # The next submit is made under v2 and must satisfy its new required criterion.
    with pytest.raises(InvalidInput) as exc:
        judge(project, users["annotator2"])
    assert "scores.concise" in exc.value.errors
    new = judge(project, users["annotator2"], scores={**GOOD_SCORES, "concise": "yes"})
    assert new.rubric_version == v2 and new.scores["concise"] is True
    assert Judgment.objects.get(pk=old.pk).rubric_version.number == 1


def test_a_submit_may_name_the_version_it_was_made_under(project, items, users):
    v1 = project.current_rubric_version()
    project_services.create_rubric_version(project=project, actor=users["lead"], criteria=CRITERIA[:1])
    judgment = judge(project, users["annotator"], rubric_version_id=v1.pk)
    assert judgment.rubric_version == v1


def test_a_version_of_another_project_is_refused(project, items, users):
    other = project_services.create_project(name="Other", created_by=users["admin"])
    foreign = project_services.create_rubric_version(project=other, actor=users["admin"], criteria=CRITERIA)
    with pytest.raises(InvalidInput) as exc:
        judge(project, users["annotator"], rubric_version_id=foreign.pk)
    assert "rubric_version" in exc.value.errors


def test_annotators_cannot_edit_rubrics(project, users):
    with pytest.raises(Forbidden):
        project_services.create_rubric_version(project=project, actor=users["annotator"], criteria=CRITERIA)
    assert RubricVersion.objects.filter(rubric__project=project).count() == 1


@pytest.mark.parametrize(
    "criteria, field",
    [
        ("not a list", "criteria"),
        ([{"key": "Bad Key", "type": "binary"}], "criteria[0].key"),
        ([{"key": "a", "type": "binary"}, {"key": "a", "type": "likert"}], "criteria[1].key"),
        ([{"key": "a", "type": "stars"}], "criteria[0].type"),
        ([{"key": "a", "type": "labels", "labels": ["only"]}], "criteria[0].labels"),
        ([{"key": "a", "type": "labels", "labels": ["x", "x"]}], "criteria[0].labels"),
        (["text"], "criteria[0]"),
    ],
)
def test_criteria_errors_name_the_field(project, users, criteria, field):
    with pytest.raises(InvalidInput) as exc:
        project_services.create_rubric_version(project=project, actor=users["lead"], criteria=criteria)
    assert field in exc.value.errors
    assert RubricVersion.objects.filter(rubric__project=project).count() == 1


@pytest.mark.parametrize(
    "scores, field",
    [
        ({"helpfulness": 9, "safe": True}, "scores.helpfulness"),
        ({"helpfulness": "four", "safe": True}, "scores.helpfulness"),
        ({"helpfulness": True, "safe": True}, "scores.helpfulness"),
        ({"helpfulness": 3}, "scores.safe"),
        ({"helpfulness": 3, "safe": "maybe"}, "scores.safe"),
        ({"helpfulness": 3, "safe": True, "tone": "angry"}, "scores.tone"),
        ({"helpfulness": 3, "safe": True, "bogus": 1}, "scores.bogus"),
    ],
)
def test_score_errors_name_the_field_and_write_nothing(project, items, users, scores, field):
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    with pytest.raises(InvalidInput) as exc:
        queue_services.submit_judgment(
            assignment=a, user=users["annotator"], decision="accept", scores=scores
        )
    assert field in exc.value.errors
    assert not Judgment.objects.exists()
    a.refresh_from_db()
    assert a.state == "leased"


def test_form_strings_are_typed(project, items, users):
    judgment = judge(project, users["annotator"], scores={"helpfulness": "4", "safe": "no", "tone": "casual"})
    assert judgment.scores == {"helpfulness": 4, "safe": False, "tone": "casual"}
