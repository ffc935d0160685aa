"""Pair ids typed as text (the pairs page's bulk form, the service's `ids`): anything but ASCII digits
within the database's range is refused with a message, never a 500 ('²' passes str.isdigit() and then
fails int(); a 400-digit id overflowed the database). One reader: annotation.core.numbers."""

import pytest
from django.test import Client

from annotation.core.errors import InvalidInput
from annotation.core.numbers import MAX_ID, whole_number
from preferences import curation
from preferences.models import PairStatus, PreferencePair
from tests.training.factories import make_pairs

pytestmark = pytest.mark.django_db

BAD_IDS = ["²", "١٢", "1" * 400, str(MAX_ID + 1), "-1", "0", "1.0", "1e3", "0x10", "\x00", " "]


@pytest.mark.parametrize(
    "value,expected",
    [
        ("12", 12),
        (" 7 ", 7),
        (7, 7),
        (True, None),
        ("²", None),
        ("١٢", None),
        ("1" * 400, None),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        (MAX_ID + 1, None),
        ("-3", None),
        (1.0, None),
        (None, None),
        ([1], None),
    ],
)
def test_whole_number(value, expected):
    assert whole_number(value) == expected


@pytest.mark.parametrize("bad", [b for b in BAD_IDS if b.strip()])
def test_pairs_page_bulk_refuses_odd_ids(project, users, settings, bad):
    settings.DEBUG = False
    rows = make_pairs(project, users["lead"], ["Q1?"], status=PairStatus.CANDIDATE)
    client = Client(raise_request_exception=False)
    client.force_login(users["lead"])
    url = f"/projects/{project.pk}/pairs/bulk/"
    page = client.post(url, {"ids": [str(rows[0].pk), bad], "action": "approve"}, follow=True)
    assert page.status_code == 200 and b"whole numbers" in page.content
    panel = client.post(url, {"ids": [bad], "action": "approve"}, HTTP_HX_REQUEST="true")
    assert panel.status_code == 400
    assert PreferencePair.objects.get(pk=rows[0].pk).status == PairStatus.CANDIDATE


@pytest.mark.parametrize("bad", BAD_IDS + [MAX_ID + 1, 2**80, True, 1.5])
def test_curate_pairs_refuses_odd_ids(project, users, bad):
    rows = make_pairs(project, users["lead"], ["Q1?"], status=PairStatus.CANDIDATE)
    with pytest.raises(InvalidInput):
        curation.curate_pairs(project=project, actor=users["lead"], action="approve", ids=[rows[0].pk, bad])
    assert PreferencePair.objects.get(pk=rows[0].pk).status == PairStatus.CANDIDATE
