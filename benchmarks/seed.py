"""Seed a comparison project with many judgments on PostgreSQL, fast (INSERT ... SELECT, no ORM rows).

Importable by any benchmark once Django is set up (`benchmarks/recompute.py` uses it):

    from benchmarks.seed import seed_comparisons, add_judgments, remove_project
    seeded = seed_comparisons(n_judgments=100_000, models=8, annotators=20, per_item=3, tag="bench")
    add_judgments(seeded, n=1000)          # new items, judged: what an incremental recompute sees
    remove_project(seeded)                 # everything it created

Each item is a pairwise comparison of two responses from two different models (of `models`, with
strengths 0, 0.3, 0.6, ... so the leaderboard has an order to find); `per_item` distinct annotators
judge it (assignments submitted, the item `complete`), each answer a win with strength 1..3 drawn
from the Bradley-Terry probability, about 5% ties and 2% "both bad", in a per-assignment random
display order, with one rubric criterion ("helpfulness") answered too. About 1.5 s per 100k judgments.
"""

from dataclasses import dataclass, field

MODEL_STEP = 0.3  # strength difference between consecutive models (log-odds)


@dataclass
class Seeded:
    project: object
    user_ids: list[int]
    models: list[str]
    per_item: int
    n_items: int = 0
    n_judgments: int = 0
    item_ids: list[int] = field(default_factory=list)


def seed_comparisons(
    *, n_judgments: int, models: int = 8, annotators: int = 20, per_item: int = 3, tag: str = "seed"
) -> Seeded:
    """A fresh comparison project (overlap `per_item`, routing off) with `n_judgments` judgments."""
    from django.contrib.auth import get_user_model

    from annotation.models import Membership, Role
    from annotation.projects import services as project_services

    if per_item > annotators:
        raise ValueError("per_item cannot exceed annotators (one judgment per annotator and item).")
    User = get_user_model()
    admin = User.objects.create_user(f"{tag}-admin")
    users = User.objects.bulk_create([User(username=f"{tag}-{i}") for i in range(annotators)])
    project = project_services.create_project(
        name=f"{tag} comparisons", created_by=admin, overlap=per_item, agreement_routing=False
    )
    project_services.create_rubric_version(
        project=project, actor=admin, criteria=[{"key": "helpfulness", "type": "likert"}]
    )
    Membership.objects.bulk_create([Membership(user=u, project=project, role=Role.ANNOTATOR) for u in users])
    seeded = Seeded(
        project=project,
        user_ids=[admin.pk] + [u.pk for u in users],
        models=[f"model-{m}" for m in range(models)],
        per_item=per_item,
    )
    add_judgments(seeded, n=n_judgments)
    return seeded


def add_judgments(seeded: Seeded, *, n: int, on_existing: int = 0) -> None:
    """`n` more judgments: new items judged by `per_item` annotators each; with `on_existing`, that
    many of the judgments go instead to existing items, one more annotator each (the item's next one
    in turn; needs annotators to spare)."""
    from django.db import connection

    project = seeded.project
    annotators = seeded.user_ids[1:]
    version = project.current_rubric_version().pk
    k = seeded.per_item
    n_new_items = max(0, n - on_existing) // k
    start = seeded.n_items
    with connection.cursor() as cur:
        if n_new_items:
            _insert_items(cur, project.pk, start, n_new_items, len(seeded.models))
            cur.execute(
                "SELECT id FROM annotation_item WHERE project_id = %s AND external_id LIKE 'seed-%%' "
                "AND id > %s ORDER BY id",
                [project.pk, max(seeded.item_ids, default=0)],
            )
            new_ids = [r[0] for r in cur.fetchall()]
            seeded.item_ids += new_ids
            # judges of item g: annotators g, g+1, ... (mod the number of annotators): distinct
            _insert_judgments(cur, project.pk, version, new_ids[0], annotators, k, offset=0)
            seeded.n_items += n_new_items
            seeded.n_judgments += n_new_items * k
        if on_existing:
            extra = seeded.item_ids[:on_existing]
            cur.execute(
                "SELECT item_id, count(*) FROM annotation_assignment WHERE item_id = ANY(%s) GROUP BY item_id",
                [extra],
            )
            have = dict(cur.fetchall())
            offsets = sorted({have[i] for i in extra})
            for off in offsets:
                batch = [i for i in extra if have[i] == off]
                if off >= len(annotators):
                    raise ValueError("No annotator left to judge these items again.")
                _insert_judgments(cur, project.pk, version, None, annotators, 1, offset=off, items=batch)
            seeded.n_judgments += on_existing
        cur.execute("ANALYZE annotation_item; ANALYZE annotation_judgment; ANALYZE annotation_response")


def _insert_items(cur, project_id: int, start: int, n: int, n_models: int) -> None:
    cur.execute(
        """
        INSERT INTO annotation_item (project_id, kind, messages, external_id, content_hash, metadata,
            priority, state, active_count, submitted_count, extra_overlap, is_gold, source,
            created_at, updated_at)
        SELECT %(p)s, 'comparison',
            jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g || '?')),
            'seed-' || g, md5(%(p)s || '-seed-' || g), '{}'::jsonb, 0, 'complete', 0, 0, 0, false,
            'seed', now(), now()
        FROM generate_series(%(a)s, %(b)s) AS g
        """,
        {"p": project_id, "a": start + 1, "b": start + n},
    )
    # two responses from two different models: a = g mod M, b = a + 1 + (g div M) mod (M - 1)
    cur.execute(
        """
        INSERT INTO annotation_response (item_id, position, text, model_name, model_version,
            generation_params, shown, created_at)
        SELECT i.id, pos, 'Answer ' || pos || ' to ' || i.external_id || '.',
            'model-' || CASE WHEN pos = 0 THEN g %% %(m)s
                             ELSE (g %% %(m)s + 1 + (g / %(m)s) %% (%(m)s - 1)) %% %(m)s END,
            '', '{}'::jsonb, true, now()
        FROM annotation_item i
        CROSS JOIN LATERAL (SELECT substr(i.external_id, 6)::int AS g) s
        CROSS JOIN generate_series(0, 1) AS pos
        WHERE i.project_id = %(p)s AND i.external_id LIKE 'seed-%%' AND s.g BETWEEN %(a)s AND %(b)s
        """,
        {"p": project_id, "m": n_models, "a": start + 1, "b": start + n},
    )


def _insert_judgments(cur, project_id, version, first_id, annotators, k, *, offset, items=None):
    """Assignments and judgments of `k` annotators on each item (from `first_id` on, or `items`)."""
    where = "i.id = ANY(%(items)s)" if items is not None else "i.id >= %(first)s"
    cur.execute("DROP TABLE IF EXISTS seed_votes")
    cur.execute(
        f"""
        CREATE TEMP TABLE seed_votes AS
        SELECT i.id AS item_id, (%(users)s::int[])[1 + (g + j + %(off)s) %% %(n_users)s] AS annotator_id,
            r0.id AS r0, r1.id AS r1,
            random() < 0.5 AS flip,  -- display order: r1 on the left
            random() AS u, random() AS t,
            1.0 / (1.0 + exp(%(step)s * (substr(r1.model_name, 7)::int - substr(r0.model_name, 7)::int)))
                AS p0
        FROM annotation_item i
        CROSS JOIN LATERAL (SELECT substr(i.external_id, 6)::int AS g) s
        JOIN annotation_response r0 ON r0.item_id = i.id AND r0.position = 0
        JOIN annotation_response r1 ON r1.item_id = i.id AND r1.position = 1
        CROSS JOIN generate_series(0, %(k)s - 1) AS j
        WHERE i.project_id = %(p)s AND {where}
        """,
        {
            "users": list(annotators),
            "n_users": len(annotators),
            "off": offset,
            "k": k,
            "p": project_id,
            "first": first_id,
            "items": items,
            "step": MODEL_STEP,
        },
    )
    cur.execute("ANALYZE seed_votes")
    cur.execute(
        """
        WITH v AS (
            SELECT *, CASE WHEN flip THEN jsonb_build_array(r1, r0) ELSE jsonb_build_array(r0, r1) END AS shown,
                CASE WHEN t < 0.02 THEN 'both_bad' WHEN t < 0.07 THEN 'tie' ELSE 'win' END AS outcome,
                CASE WHEN u < p0 THEN r0 ELSE r1 END AS w, CASE WHEN u < p0 THEN r1 ELSE r0 END AS l
            FROM seed_votes
        ), a AS (
            INSERT INTO annotation_assignment (project_id, item_id, annotator_id, state, leased_until,
                display_order, reason, created_at, submitted_at)
            SELECT %(p)s, item_id, annotator_id, 'submitted', now(), shown, 'seed', now(), now() FROM v
            RETURNING id, item_id, annotator_id
        )
        INSERT INTO annotation_judgment (assignment_id, item_id, annotator_id, rubric_version_id, decision,
            edited_text, scores, flags, comment, payload, duration_seconds, rushed, is_current, external,
            source, created_at)
        SELECT a.id, v.item_id, v.annotator_id, %(version)s, '', '', '{}'::jsonb, '[]'::jsonb, '',
            CASE WHEN v.outcome = 'win' THEN jsonb_build_object(
                'display_order', v.shown, 'outcome', 'win', 'ranking', jsonb_build_array(
                    jsonb_build_array(v.w), jsonb_build_array(v.l)),
                'winner', v.w, 'winner_slot', CASE WHEN (v.w = v.r1) = v.flip THEN 0 ELSE 1 END,
                'strength', 1 + floor(v.t * 3)::int,
                'criteria', jsonb_build_object('helpfulness', jsonb_build_object(
                    'outcome', 'win', 'ranking', jsonb_build_array(jsonb_build_array(v.w),
                    jsonb_build_array(v.l)), 'winner', v.w)),
                'improved_text', '', 'harmful', '[]'::jsonb)
            ELSE jsonb_build_object(
                'display_order', v.shown, 'outcome', v.outcome,
                'ranking', jsonb_build_array(jsonb_build_array(LEAST(v.r0, v.r1), GREATEST(v.r0, v.r1))),
                'winner', NULL, 'winner_slot', NULL, 'strength', 0, 'criteria', '{}'::jsonb,
                'improved_text', '', 'harmful', '[]'::jsonb)
            END,
            10.0, false, true, false, '', now()
        FROM a JOIN v ON v.item_id = a.item_id AND v.annotator_id = a.annotator_id
        """,
        {"p": project_id, "version": version},
    )
    cur.execute(
        """
        UPDATE annotation_item i SET submitted_count = i.submitted_count + c.n, active_count = i.active_count + c.n,
            updated_at = now()
        FROM (SELECT item_id, count(*) AS n FROM seed_votes GROUP BY item_id) c WHERE i.id = c.item_id
        """
    )
    cur.execute("DROP TABLE seed_votes")


def remove_project(seeded: Seeded) -> None:
    """Delete the project and its users (judgments first: they PROTECT their items)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from annotation.models import Project

    pid = seeded.project.pk
    items = "SELECT id FROM annotation_item WHERE project_id = %s"
    with connection.cursor() as cur:
        for table in ("preferences_preferencepair", "preferences_consensus", "annotation_adjudication"):
            cur.execute(f"DELETE FROM {table} WHERE item_id IN ({items})", [pid])
        cur.execute(f"DELETE FROM annotation_judgment WHERE item_id IN ({items})", [pid])
        cur.execute("DELETE FROM annotation_assignment WHERE project_id = %s", [pid])
        cur.execute("DELETE FROM annotation_auditevent WHERE project_id = %s", [pid])
    Project.objects.filter(pk=pid).delete()
    get_user_model().objects.filter(pk__in=seeded.user_ids).delete()
