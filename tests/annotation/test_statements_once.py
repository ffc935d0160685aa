"""`statements.once`: a hot path's write compiled once per process, the values put in afterwards,
gives exactly the SQL and parameters that compiling it each time gives (PostgreSQL: its hot paths)."""

from datetime import UTC, datetime

import pytest
from django.db import connection
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
    """The same statement with the same values in place; only the values stay parameters, the
    constants (here the item states) are literals in the text (`statements._inline_constants`)."""
    statements._TEMPLATES.pop("test:record", None)
    for v in values:
        sql, params = statements.once("test:record", build, **v)
        expected_sql, expected_params = build(**v)
        assert connection.ops.compose_sql(sql, params) == connection.ops.compose_sql(
            expected_sql, expected_params
        )
        assert "'assigned'" in sql and "'assigned'" not in expected_sql  # a constant, now a literal
        assert len(params) < len(expected_params)
        assert all(p in (v["item_id"], v["overlap"], v["now"]) and not isinstance(p, str) for p in params)


@pytest.mark.parametrize(
    "constant",
    ["open", "it's 100%", "back\\slash", "%s", "%%", True, False, 0, -3, 2**40],
)
def test_a_constant_becomes_a_literal_that_reads_back_the_same(constant):
    """Quotes, percent signs, backslashes, booleans and negative numbers survive as literals; the
    placeholders after them still take their values; escaped percent signs stay escaped."""
    sql = "SELECT %s::text AS a, '%%' AS pct, %s AS c, %s::timestamptz AS t"
    when = datetime(2026, 1, 2, tzinfo=UTC)
    got, params, slots = statements._inline_constants(sql, (constant, 7, when), (None, "n", None))
    assert params == (7, when) and slots == ("n", None)  # a datetime constant stays a parameter
    with connection.cursor() as cursor:
        cursor.execute(got, params)
        row = cursor.fetchone()
    assert row[0] == str(constant).lower() if isinstance(constant, bool) else row[0] == str(constant)
    assert row[1:] == ("%", 7, when)


def test_values_and_other_types_stay_parameters():
    from django.db.models.fields.json import JSONField

    payload = JSONField().get_db_prep_value({"a": "b"}, connection)
    sql, params, slots = statements._inline_constants(
        "SELECT %s, %s, %s", (5, payload, None), ("v", None, None)
    )
    assert sql == "SELECT %s, %s, %s" and params == (5, payload, None) and slots == ("v", None, None)


def test_a_value_that_does_not_reach_the_parameters_as_passed_is_refused():
    statements._TEMPLATES.pop("test:changed", None)

    def changed(item_id):
        return statements.update_sql(Item.objects.filter(pk=item_id + 1), active_count=F("active_count") + 1)

    with pytest.raises(ValueError, match="as it was passed"):
        statements.once("test:changed", changed, item_id=4)
    with pytest.raises(TypeError):
        statements.once("test:text", build, item_id="4", overlap=2, now=datetime(2026, 1, 2, tzinfo=UTC))


def _fields(obj):
    """A model row's loaded field values and the extra attributes a read sets (annotations)."""
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def test_rows_once_gives_the_rows_the_queryset_gives(project, users, items):
    """The hot path's reads (`hot_sql`), compiled once: the same rows, related rows (select_related),
    annotations (caller_role, shown ids) and converted values (JSON) as iterating the queryset; a
    values_list's tuples; nothing for a row that is not there."""
    from django.db import transaction
    from django.utils import timezone

    from annotation.core.permissions import with_caller_role
    from annotation.models import Project
    from annotation.queue import hot_sql, selectors, services

    annotator = users["annotator"]
    with transaction.atomic():
        mine = services.next_assignment(project=project, user=annotator)
    for user in (annotator, users["admin"], users["outsider"]):
        statements._QUERIES.clear()
        for _ in range(2):  # compiled the first time, filled in the second
            now = timezone.now()
            got = hot_sql.project_for_next(project_id=project.pk, user=user, now=now)
            qs = selectors.with_expired_leases(Project.objects.select_related("latest_rubric_version"), now)
            expected = with_caller_role(qs, user).get(pk=project.pk)
            assert _fields(got) == _fields(expected)
            assert _fields(got.latest_rubric_version) == _fields(expected.latest_rubric_version)
            assert hot_sql.project_for_next(project_id=10**12, user=user, now=now) is None
    with transaction.atomic():
        locked = hot_sql.lock_for_submit(assignment_id=mine.pk, user=annotator)
        assert locked.pk == mine.pk and locked.caller_role == "annotator"
        assert locked.item == mine.item and locked.item.messages == mine.item.messages
        assert locked.project.latest_rubric_version == project.current_rubric_version()
        assert locked.display_order == mine.display_order and locked.shown_response_ids
        assert hot_sql.lock_for_submit(assignment_id=mine.pk, user=users["annotator2"]) is None
        assert hot_sql.lock_user(user=annotator, project=project, kind="sft", now=timezone.now()) == mine.pk
        assert (
            hot_sql.lock_user(user=users["annotator2"], project=project, kind="sft", now=timezone.now())
            is None
        )
