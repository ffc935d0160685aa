"""People: a lead's new accounts (one-time passwords, invite links), invitations (signed, stored hashed,
expiring, used once), the forced change of a one-time password, and the password change page."""

from datetime import timedelta

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.core.errors import Forbidden, InvalidInput, NotFound
from annotation.models import AuditEvent, Invitation, Membership, PasswordChangeRequired, Role
from annotation.people import lines, services, tokens
from annotation.people.services import InvitationUnusable

pytestmark = pytest.mark.django_db
User = get_user_model()
HX = {"HTTP_HX_REQUEST": "true"}


# --- the list ---------------------------------------------------------------------------------


def test_lines_take_emails_and_usernames_and_name_each_bad_line():
    parsed = lines.parse("Ann@Example.org\n\n# a comment\nbob_2\nbad name\nANN@example.org\n" + "x" * 151)
    assert [(e.line, e.username, e.email) for e in parsed.entries] == [
        (1, "ann@example.org", "ann@example.org"),
        (4, "bob_2", ""),
    ]
    assert [str(e) for e in parsed.errors] == [
        "line 5: 'bad name' is neither an email nor a username (letters, digits, @ . + - _).",
        "line 6: 'ann@example.org' is already on line 1.",
        "line 7: longer than 150 characters.",
    ]
    assert [str(e) for e in lines.parse(" \n").errors] == ["line 1: no email or username given."]
    many = lines.parse("\n".join(f"u{i}" for i in range(lines.MAX_LINES + 1)))
    assert [str(e) for e in many.errors] == [
        f"line {lines.MAX_LINES + 1}: at most {lines.MAX_LINES} accounts at a time."
    ]


# --- one-time passwords -----------------------------------------------------------------------


def test_one_time_passwords_make_annotators_of_the_leads_project(project, users):
    made = services.create_accounts(
        project=project, actor=users["lead"], text="ann@example.org\nbob", mode="password"
    )
    assert [a.username for a in made] == ["ann@example.org", "bob"]
    for account in made:
        user = authenticate(username=account.username, password=account.password)
        assert user is not None and len(account.password) >= 12
        assert Membership.objects.get(user=user, project=project).role == Role.ANNOTATOR
        assert PasswordChangeRequired.objects.filter(user=user).exists()
    assert User.objects.get(username="ann@example.org").email == "ann@example.org"
    event = AuditEvent.objects.get(project=project, verb="member.accounts_created")
    assert event.actor == users["lead"] and event.data["users"] == ["ann@example.org", "bob"]
    assert made[0].password not in str(event.data)  # never in the audit trail


def test_a_list_is_all_or_nothing_with_line_numbers(project, users):
    users_before, invitations_before = User.objects.count(), Invitation.objects.count()
    services.create_accounts(project=project, actor=users["lead"], text="pending", mode="invite")
    with pytest.raises(InvalidInput) as caught:
        services.create_accounts(
            project=project,
            actor=users["lead"],
            text="new1\nANNOTATOR1\nbad name\npending\nnew2",
            mode="password",
        )
    assert caught.value.errors == {
        "lines": [
            "line 2: 'ANNOTATOR1' already has an account: add it as a member.",
            "line 3: 'bad name' is neither an email nor a username (letters, digits, @ . + - _).",
            "line 4: 'pending' already has a pending invitation.",
        ]
    }
    assert User.objects.count() == users_before and Invitation.objects.count() == invitations_before + 1
    with pytest.raises(InvalidInput, match="mode"):
        services.create_accounts(project=project, actor=users["lead"], text="x", mode="magic")


def test_only_leads_and_admins_create_accounts(project, users):
    with pytest.raises(Forbidden):
        services.create_accounts(project=project, actor=users["annotator"], text="sneaky", mode="password")
    assert not User.objects.filter(username="sneaky").exists()
    services.create_accounts(project=project, actor=users["admin"], text="fine", mode="password")
    assert User.objects.filter(username="fine").exists()


# --- invitations ------------------------------------------------------------------------------


def invite(project, lead, name="carol@example.org"):
    (account,) = services.create_accounts(project=project, actor=lead, text=name, mode="invite")
    return account


def test_invitation_is_stored_hashed_and_expires_after_the_setting(settings, project, users):
    settings.TUNELOOP_INVITE_DAYS = 2
    before = timezone.now()
    account = invite(project, users["lead"])
    row = Invitation.objects.get(project=project)
    assert row.token_hash == tokens.hash_of(account.token) and account.token not in row.token_hash
    assert account.token.split(":")[0] not in {row.token_hash, row.username, row.email}
    assert before + timedelta(days=2) <= row.expires_at <= timezone.now() + timedelta(days=2)
    assert row.role == Role.ANNOTATOR and row.created_by == users["lead"]
    assert AuditEvent.objects.filter(
        project=project, verb="member.invited", data__users=["carol@example.org"]
    ).exists()


def test_invitation_works_once(project, users):
    account = invite(project, users["lead"])
    user = services.accept_invitation(token=account.token, username="carol", password="long enough")
    assert user.email == "carol@example.org" and user.check_password("long enough")
    assert Membership.objects.get(user=user, project=project).role == Role.ANNOTATOR
    row = Invitation.objects.get(project=project)
    assert row.accepted_by == user and row.accepted_at is not None
    assert AuditEvent.objects.filter(project=project, verb="invitation.accepted", actor=user).exists()
    with pytest.raises(InvitationUnusable, match="already used"):
        services.accept_invitation(token=account.token, username="carol2", password="long enough")
    assert not User.objects.filter(username="carol2").exists()


def test_expired_revoked_forged_and_unknown_links_are_refused(project, users):
    expired = invite(project, users["lead"], "old")
    Invitation.objects.filter(username="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(InvitationUnusable, match="expired"):
        services.accept_invitation(token=expired.token, username="old", password="long enough")
    revoked = invite(project, users["lead"], "gone")
    row = Invitation.objects.get(username="gone")
    services.revoke_invitation(project=project, actor=users["lead"], invitation_id=row.pk)
    with pytest.raises(InvitationUnusable, match="withdrawn"):
        services.accept_invitation(token=revoked.token, username="gone", password="long enough")
    forged = revoked.token[:-2] + ("AA" if not revoked.token.endswith("AA") else "BB")
    unknown, _ = tokens.new_token()  # signed by us, never stored
    for token in (forged, unknown, "", "no-signature"):
        with pytest.raises(NotFound):
            services.accept_invitation(token=token, username="x", password="long enough")
    assert not User.objects.filter(username__in=["old", "gone", "x"]).exists()
    assert AuditEvent.objects.filter(project=project, verb="invitation.revoked", data__user="gone").exists()


def test_an_invitee_picks_a_free_username(project, users):
    account = invite(project, users["lead"])
    with pytest.raises(InvalidInput, match="taken"):
        services.accept_invitation(token=account.token, username="Annotator1", password="long enough")
    with pytest.raises(InvalidInput, match="Letters"):
        services.accept_invitation(token=account.token, username="two words", password="long enough")
    assert Invitation.objects.get(project=project).accepted_at is None  # still usable


# --- pages ------------------------------------------------------------------------------------


def test_members_page_creates_accounts_and_shows_them_once(client, project, users):
    client.force_login(users["lead"])
    url = reverse("annotation:member-accounts", args=[project.pk])
    res = client.post(url, {"lines": "dora\neve@example.org", "mode": "invite"}, **HX)
    html = res.content.decode()
    assert res.status_code == 200 and "shown once" in html and "no-cache" in res["Cache-Control"]
    assert html.count("http://testserver/invite/") == 2 * 2  # each link: href and text
    page = client.get(reverse("annotation:members", args=[project.pk])).content.decode()
    assert "/invite/" not in page and "eve@example.org" in page  # listed as pending, link gone
    res = client.post(url, {"lines": "dora\nfrank", "mode": "password"}, **HX)
    assert res.status_code == 400
    assert "line 1: &#x27;dora&#x27; already has a pending invitation." in res.content.decode()
    assert not User.objects.filter(username="frank").exists()
    res = client.post(url, {"lines": "frank", "mode": "password"}, **HX)
    assert res.status_code == 200 and "One-time password" in res.content.decode()
    client.force_login(users["annotator"])
    assert client.post(url, {"lines": "mallory", "mode": "password"}).status_code == 403


def test_members_page_withdraws_an_invitation(client, project, users):
    invite(project, users["lead"])
    row = Invitation.objects.get()
    client.force_login(users["lead"])
    res = client.post(reverse("annotation:invitation-revoke", args=[project.pk, row.pk]), **HX)
    assert res.status_code == 200 and "Withdrew the invitation of carol@example.org" in res.content.decode()
    row.refresh_from_db()
    assert row.revoked_at is not None


def test_accepting_an_invitation_logs_in(client, project, users):
    account = invite(project, users["lead"])
    url = reverse("annotation:invite", args=[account.token])
    form = client.get(url)
    assert form.status_code == 200 and 'value="carol@example.org"' in form.content.decode()
    bad = client.post(url, {"username": "carol", "password1": "long enough", "password2": "different"})
    assert bad.status_code == 400 and "The two passwords differ." in bad.content.decode()
    short = client.post(url, {"username": "carol", "password1": "short", "password2": "short"})
    assert short.status_code == 400 and "too short" in short.content.decode()
    res = client.post(url, {"username": "carol", "password1": "long enough", "password2": "long enough"})
    assert res.status_code == 302 and res["Location"] == reverse("annotation:project-list")
    home = client.get(res["Location"]).content.decode()
    assert "carol" in home and project.name in home
    again = client.get(url)
    assert again.status_code == 410 and "already used" in again.content.decode()
    assert client.get(reverse("annotation:invite", args=["forged:token"])).status_code == 404


def test_a_one_time_password_must_be_changed_first(client, project, users):
    (account,) = services.create_accounts(project=project, actor=users["lead"], text="gina", mode="password")
    api = APIClient()
    token = api.post("/api/auth/token/", {"username": "gina", "password": account.password})
    assert token.status_code == 403 and token.json()["code"] == "password_change_required"
    res = client.post(reverse("login"), {"username": "gina", "password": account.password})
    assert res.status_code == 302
    review = reverse("annotation:review", args=[project.pk])
    blocked = client.get(review)
    assert blocked.status_code == 302 and blocked["Location"] == "/account/password/?required=1"
    assert client.get("/api/projects/").status_code == 403
    page = client.get(blocked["Location"]).content.decode()
    assert "choose your own to continue" in page
    changed = client.post(
        "/account/password/",
        {
            "old_password": account.password,
            "new_password1": "my own secret",
            "new_password2": "my own secret",
        },
    )
    assert changed.status_code == 302 and changed["Location"] == "/account/password/done/"
    assert client.get(review).status_code == 200  # still logged in, free to work
    assert not PasswordChangeRequired.objects.filter(user__username="gina").exists()
    assert api.post("/api/auth/token/", {"username": "gina", "password": "my own secret"}).status_code == 200


def test_anyone_changes_their_password(client, users):
    client.force_login(users["annotator"])
    page = client.get("/account/password/")
    assert page.status_code == 200 and "Change your password" in page.content.decode()
    assert "choose your own to continue" not in page.content.decode()
    wrong = client.post(
        "/account/password/",
        {"old_password": "nope", "new_password1": "abcdefgh1", "new_password2": "abcdefgh1"},
    )
    assert wrong.status_code == 200 and "incorrectly" in wrong.content.decode()
    ok = client.post(
        "/account/password/",
        {"old_password": "pw", "new_password1": "abcdefgh1", "new_password2": "abcdefgh1"},
    )
    assert ok.status_code == 302
    users["annotator"].refresh_from_db()
    assert users["annotator"].check_password("abcdefgh1")


# --- API --------------------------------------------------------------------------------------


def api_for(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_api_creates_accounts_lists_and_withdraws_invitations(project, users):
    lead = api_for(users["lead"])
    url = f"/api/projects/{project.pk}/accounts/"
    res = lead.post(url, {"lines": "hana\nivan@example.org"}, format="json")
    assert res.status_code == 201 and res["Cache-Control"] == "no-store"
    accounts = res.json()["accounts"]
    assert [a["username"] for a in accounts] == ["hana", "ivan@example.org"]
    assert all(
        a["invite_url"].startswith("http://testserver/invite/") and a["password"] == "" for a in accounts
    )
    token = accounts[0]["invite_url"].rsplit("/", 2)[-2]
    assert services.usable_invitation(token).username == "hana"
    listed = lead.get(f"/api/projects/{project.pk}/invitations/").json()
    assert [i["username"] for i in listed] == ["ivan@example.org", "hana"]
    withdrawn = lead.post(f"/api/projects/{project.pk}/invitations/{listed[1]['id']}/revoke/")
    assert withdrawn.status_code == 200
    assert [i["username"] for i in lead.get(f"/api/projects/{project.pk}/invitations/").json()] == [
        "ivan@example.org"
    ]

    res = lead.post(url, {"lines": "jo", "mode": "password"}, format="json")
    (jo,) = res.json()["accounts"]
    assert (
        res.status_code == 201
        and jo["invite_url"] == ""
        and authenticate(username="jo", password=jo["password"])
    )

    bad = lead.post(url, {"lines": "ok1\nhas space", "mode": "password"}, format="json")
    assert (
        bad.status_code == 400
        and "line 2" in str(bad.json())
        and not User.objects.filter(username="ok1").exists()
    )
    assert lead.post(url, {"lines": "x", "mode": "magic"}, format="json").status_code == 400
    assert api_for(users["annotator"]).post(url, {"lines": "y"}, format="json").status_code == 403
    assert api_for(users["annotator"]).get(f"/api/projects/{project.pk}/invitations/").status_code == 403
    stranger = User.objects.create_user("stranger")
    assert api_for(stranger).post(url, {"lines": "z"}, format="json").status_code == 404


def test_admin_shows_invitations_without_their_hash(client, project, users):
    invite(project, users["lead"])
    row = Invitation.objects.get()
    users["admin"].is_staff = users["admin"].is_superuser = True
    users["admin"].save()
    client.force_login(users["admin"])
    listing = client.get(reverse("admin:annotation_invitation_changelist"))
    assert listing.status_code == 200 and "carol@example.org" in listing.content.decode()
    detail = client.get(reverse("admin:annotation_invitation_change", args=[row.pk])).content.decode()
    assert row.token_hash not in detail
    assert client.get(reverse("admin:annotation_invitation_add")).status_code == 403
