"""next's and submit's bodies are built field by field (`annotation.queue.serializers.task_data`,
`judgment_data`), not through their serializers: they must equal what the serializers (the schema's)
give, for SFT items and comparisons, with a rubric and without, with a duration and a superseded one."""

import pytest

from annotation.kinds.task import build_task
from annotation.models import Judgment, RubricVersion
from annotation.queue import serializers, services
from tests.annotation.factories import client_for
from tests.conftest import GOOD_SCORES, make_items
from tests.preferences.factories import make_cmp_project, make_comparisons

pytestmark = pytest.mark.django_db


def same_task(project, user, kind):
    assignment = services.next_assignment(project=project, user=user, kind=kind)
    assignment.project = project
    task = build_task(assignment, extras=False)
    assert serializers.task_data(task) == serializers.TaskSerializer(task).data
    return assignment


def same_judgment(judgment):
    fresh = Judgment.objects.select_related("annotator", "rubric_version").get(pk=judgment.pk)
    expected = serializers.JudgmentSerializer(fresh).data
    assert serializers.judgment_data(judgment) == expected == serializers.judgment_data(fresh)


def test_sft_task_and_judgment(project, users):
    make_items(project, users["lead"], 3)
    user = users["annotator"]
    assignment = same_task(project, user, "sft")
    judgment = services.submit_judgment(
        assignment=assignment, user=user, decision="accept", scores=GOOD_SCORES, duration_seconds=7
    )
    same_judgment(judgment)
    again = services.submit_judgment(  # supersedes the first
        assignment=assignment, user=user, decision="reject", scores=GOOD_SCORES, comment="on second thought"
    )
    assert again.supersedes_id == judgment.pk
    same_judgment(again)


def test_without_a_rubric_and_through_the_api(project, users):
    RubricVersion.objects.filter(rubric__project=project).delete()
    make_items(project, users["lead"], 2)
    user = users["annotator"]
    same_task(project, user, "sft")
    client = client_for(user)
    task = client.get(f"/api/projects/{project.pk}/next/").json()
    assert task["rubric_version"] is None
    r = client.post(f"/api/assignments/{task['assignment']}/submit/", {"decision": "accept"}, format="json")
    assert r.status_code == 201, r.content
    same_judgment(Judgment.objects.get(pk=r.json()["id"]))
    fresh = Judgment.objects.select_related("annotator", "rubric_version").get(pk=r.json()["id"])
    assert r.json() == serializers.JudgmentSerializer(fresh).data


def test_comparison_task_and_judgment(users):
    cmp = make_cmp_project(users)
    make_comparisons(cmp, users["lead"], 2)
    user = users["annotator"]
    assignment = same_task(cmp, user, "comparison")
    judgment = services.submit_judgment(
        assignment=assignment, user=user, payload={"choice": "A", "strength": 2}, comment="clearer"
    )
    same_judgment(judgment)
