"""A web host without the worker stack: an import of one of its modules failing in a request is a 503
naming the `worker` extra, on pages and in the API's error format; any other import error stays a 500."""

import json

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.core.worker_stack import missing
from evaluation import sets
from tests.evaluation.factories import snapshot_with, version

pytestmark = pytest.mark.django_db


def no_torch(texts):
    raise ModuleNotFoundError("No module named 'torch'", name="torch")


def no_thing(texts):
    raise ModuleNotFoundError("No module named 'thing'", name="thing")


def test_missing_names_only_worker_stack_modules():
    assert missing(ModuleNotFoundError("x", name="sentence_transformers.models")).status == 503
    assert missing(ModuleNotFoundError("x", name="numpy")) is None
    assert missing(ImportError("cannot import name x from torch", name="torch")) is None
    assert missing(ValueError("torch")) is None


@pytest.fixture
def leakage(project, users, settings):
    trained = version(project, snapshot=snapshot_with(project, ["What is 2+2?"]))
    eval_set = sets.import_eval_set(
        project=project, actor=users["lead"], text=json.dumps({"prompt": "Cats?"})
    )
    return eval_set, trained


def test_a_page_and_the_api_answer_503_when_the_request_needs_the_worker_stack(
    client, users, settings, leakage
):
    eval_set, trained = leakage
    settings.TUNELOOP_EMBEDDER = "tests.annotation.test_worker_stack.no_torch"
    client.force_login(users["lead"])
    page = client.get(reverse("evaluation:set", args=[eval_set.pk]), {"version": trained.pk})
    assert page.status_code == 503 and b"worker stack (torch is not installed" in page.content
    partial = client.get(
        reverse("evaluation:set", args=[eval_set.pk]), {"version": trained.pk}, HTTP_HX_REQUEST="true"
    )
    assert partial.status_code == 503 and b"<html" not in partial.content.lower()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=users['lead']).key}")
    answer = api.get(f"/api/eval-sets/{eval_set.pk}/leakage/", {"version": trained.pk})
    assert answer.status_code == 503
    assert answer.json()["code"] == "worker_stack_missing" and "[worker]" in answer.json()["detail"]


def test_another_missing_module_is_still_a_server_error(client, users, settings, leakage):
    eval_set, trained = leakage
    settings.TUNELOOP_EMBEDDER = "tests.annotation.test_worker_stack.no_thing"
    client.raise_request_exception = False
    client.force_login(users["lead"])
    page = client.get(reverse("evaluation:set", args=[eval_set.pk]), {"version": trained.pk})
    assert page.status_code == 500
