"""One invitation, accepted at once from two browsers, on PostgreSQL: exactly one account is made."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from annotation.core.errors import ServiceError
from annotation.models import Invitation
from annotation.people import services
from annotation.projects import services as project_services

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
User = get_user_model()


def test_an_invitation_is_used_once_under_concurrency():
    lead = User.objects.create_user("boss")
    project = project_services.create_project(name="Race", created_by=lead)
    (account,) = services.create_accounts(project=project, actor=lead, text="twice", mode="invite")
    outcomes, start = [], threading.Barrier(4)

    def accept(name):
        try:
            start.wait()
            services.accept_invitation(token=account.token, username=name, password="long enough")
            outcomes.append(("ok", name))
        except ServiceError as exc:
            outcomes.append((exc.status, name))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=(f"racer{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert sorted(status for status, _ in outcomes if status != "ok") == [410, 410, 410]
    (winner,) = [name for status, name in outcomes if status == "ok"]
    assert list(User.objects.filter(username__startswith="racer").values_list("username", flat=True)) == [
        winner
    ]
    assert Invitation.objects.get().accepted_by.username == winner
