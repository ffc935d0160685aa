"""`statements.once`: a hot path's write compiled once per process, the values put in afterwards,
gives exactly the SQL and parameters that compiling it each time gives (PostgreSQL: its hot paths)."""

from datetime import UTC, datetime

import pytest
from django.db.models import F

from annotation.core import statements
from annotation.models import Item
from annotation.queue import lifecycle

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def build(item_id, overlap, now):
    return statements.update_sql(
        Item.objects.filter(pk=item_id), **lifecycle._record_submission_values(overlap, now)
    )


@pytest.mark.parametrize(
    "values",
    [
        [dict(item_id=1, overlap=2, now=datetime(2026, 1, 2, tzinfo=UTC))],
        [
            dict(item_id=5, overlap=3, now=datetime(2026, 1, 2, tzinfo=UTC)),
            dict(item_id=9, overlap=1, now=datetime(2027, 5, 6, 7, 8, tzinfo=UTC)),
        ],
    ],
)
def test_once_equals_compiling_each_time(values):
    statements._TEMPLATES.pop("test:record", None)
    for v in values:
        sql, params = statements.once("test:record", build, **v)
        expected_sql, expected_params = build(**v)
        assert sql == expected_sql
        assert list(params) == list(expected_params)
        assert [type(p) for p in params] == [type(p) for p in expected_params]


def test_a_value_that_does_not_reach_the_parameters_as_passed_is_refused():
    statements._TEMPLATES.pop("test:changed", None)

    def changed(item_id):
        return statements.update_sql(Item.objects.filter(pk=item_id + 1), active_count=F("active_count") + 1)

    with pytest.raises(ValueError, match="as it was passed"):
        statements.once("test:changed", changed, item_id=4)
    with pytest.raises(TypeError):
        statements.once("test:text", build, item_id="4", overlap=2, now=datetime(2026, 1, 2, tzinfo=UTC))
