"""The web install, checked from inside: run only by tests/test_web_install.py, in an interpreter whose
site-packages hide the worker extra (torch, transformers, trl, peft, accelerate, sentence-transformers,
scikit-learn, ...) as if `pip install .` had been run without `[worker]`. Not collected by a plain
`pytest` run (the name does not start with test_)."""

import importlib
import importlib.util
import json
import sys

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.core.worker_stack import WORKER_MODULES
from evaluation import sets
from tests.evaluation.factories import snapshot_with, version
from tests.training.factories import sft_project_data, word_embedder
from training import snapshots

pytestmark = pytest.mark.django_db


def loaded_worker_modules():
    return sorted(name for name in WORKER_MODULES if name in sys.modules)


def api_as(user):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return api


def test_the_worker_stack_is_not_installed_here():
    for name in WORKER_MODULES:
        assert importlib.util.find_spec(name) is None, f"{name} is importable"
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(name)


def test_django_check_passes():
    call_command("check", fail_level="ERROR")


def test_pages_and_the_queue_api_serve(client, project, users, items):
    client.force_login(users["lead"])
    for url in [
        reverse("annotation:project-list"),
        reverse("annotation:dashboard", args=[project.pk]),
        reverse("training:runs", args=[project.pk]),
        reverse("training:snapshots", args=[project.pk]),
        reverse("evaluation:index", args=[project.pk]),
        "/api/schema/",
        "/healthz",
    ]:
        assert client.get(url).status_code == 200, url
    client.force_login(users["annotator"])
    assert client.get(reverse("annotation:review", args=[project.pk])).status_code == 200
    api = api_as(users["annotator2"])
    task = api.get(f"/api/projects/{project.pk}/next/").json()
    done = api.post(
        f"/api/assignments/{task['assignment']}/submit/",
        {"decision": "accept", "scores": {"helpfulness": 4, "safe": True}},
        format="json",
    )
    assert done.status_code == 201, done.content
    assert loaded_worker_modules() == []


def test_a_training_run_is_queued_for_a_gpu_worker_without_torch(
    project, users, django_capture_on_commit_callbacks
):
    from training.tasks import run_training_task  # deferred: after django.setup(), as the app loads it

    sft_project_data(project, users, n=5)
    snapshot = snapshots.build_snapshot(
        project=project,
        actor=users["lead"],
        kind="sft",
        filters={"val_fraction": 0.2},
        embedder=word_embedder,
    )
    with django_capture_on_commit_callbacks(execute=True):
        started = api_as(users["lead"]).post(
            f"/api/projects/{project.pk}/runs/",
            {"snapshot": snapshot.pk, "config": {"max_steps": 2}},
            format="json",
        )
    assert started.status_code == 201, started.content
    with run_training_task.app.connection_for_read() as conn:  # the memory broker of this process
        message = conn.SimpleQueue("gpu").get(timeout=5)
        assert message.headers["task"] == "training.tasks.run_training_task"
        assert message.headers["argsrepr"].startswith(f"[{started.json()['id']},")
        message.ack()
    assert loaded_worker_modules() == []


def test_a_model_in_the_request_answers_503_naming_the_worker_stack(client, project, users, settings):
    settings.TUNELOOP_EMBEDDER = "llm.embeddings.minilm_embedder"  # MiniLM: sentence-transformers
    trained = version(project, snapshot=snapshot_with(project, ["What is 2+2?"]))
    eval_set = sets.import_eval_set(
        project=project, actor=users["lead"], text=json.dumps({"prompt": "How many legs has a cat?"})
    )
    client.force_login(users["lead"])
    page = client.get(reverse("evaluation:set", args=[eval_set.pk]), {"version": trained.pk})
    assert page.status_code == 503 and b"worker stack" in page.content
    api = api_as(users["lead"]).get(f"/api/eval-sets/{eval_set.pk}/leakage/", {"version": trained.pk})
    assert api.status_code == 503
    assert api.json()["code"] == "worker_stack_missing" and "worker" in api.json()["detail"]
