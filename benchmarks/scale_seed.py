"""Seed one project with many judgments on PostgreSQL, in minutes: `seed(name, judgments=N, ...)`.

Importable by any benchmark (benchmarks/scale.py times the lead pages on it). Everything after the
project, its rubric versions and its users is `INSERT ... SELECT generate_series` in one transaction;
every random choice is a hash of (seed, row, purpose) (`hashint8extended`), so the same arguments give
the same rows on any PostgreSQL >= 11.

What it builds (about `judgments` judgments in all):
- `annotators` annotators with accuracies spread between 0.55 and 0.97, and a few spammers (every
  SFT item accepted, slot A always preferred: a position bias the leaderboard shows);
- items, `sft_share` SFT (one response) and the rest pairwise comparisons (two responses from a pool
  of models of graded strength); each judged item has `overlap` (3) current judgments by distinct
  annotators, a hidden true answer, and answers drawn from each annotator's accuracy;
- `rubric_versions` rubric versions, each judged item under one of them (older items, older versions);
- about 1% of the judgments superseded by a later one on the same assignment (append-only edits);
- unanimous items APPROVED with a resolution, the others DISPUTED, and `adjudicated_share` of those
  adjudicated by the lead (APPROVED, with the final answer); 1% gold items (COMPLETE, gold answer);
- 5% more items with no judgment yet (OPEN; a quarter with a lease in flight), so the queue is real;
- one audit event per judgment (judgment.submitted / judgment.superseded) and per adjudication;
- consensus rows ("majority") and candidate preference pairs for approved comparisons with a winner.

Lifecycle counters follow annotation.queue.lifecycle's rule: active_count = leased + submitted
assignments, submitted_count = submitted ones, states as the counters and decisions say.
"""

import math
import re
import time
from dataclasses import dataclass

SFT_CRITERIA = [
    {"key": "helpfulness", "type": "likert", "required": True, "instructions": "How helpful, 1-5?"},
    {"key": "safe", "type": "binary", "required": True, "instructions": "Is it safe?"},
]
MODELS = ["alpha-7b", "beta-13b", "gamma-70b", "delta-8x7b", "epsilon-3b", "zeta-1b"]


@dataclass
class Seeded:
    project: object
    lead: object
    judgments: int
    items: int
    seconds: float

    def __str__(self):
        rate = self.judgments / self.seconds if self.seconds else 0
        return (
            f"project #{self.project.pk} '{self.project.name}': {self.items:,} items, "
            f"{self.judgments:,} judgments in {self.seconds:.1f} s ({rate:,.0f} judgments/s)"
        )


def find(project_name: str):
    """An already seeded project of that name (the newest), or None; with the figures of its seeding."""
    from annotation.models import Judgment, Membership, Project, Role

    project = Project.objects.filter(name=project_name).order_by("-id").first()
    if project is None:
        return None
    lead = Membership.objects.filter(project=project, role=Role.ADMIN).select_related("user").first()
    recorded = re.match(r"scale seed: (\d+) judgments, (\d+) items in ([\d.]+) s", project.description)
    if recorded:  # what seed() wrote when it built the project
        judgments, items, seconds = int(recorded[1]), int(recorded[2]), float(recorded[3])
    else:
        judgments = Judgment.objects.filter(item__project=project).count()
        items, seconds = project.items.count(), 0.0
    return Seeded(
        project=project, lead=lead.user if lead else None, judgments=judgments, items=items, seconds=seconds
    )


def seed(
    project_name: str,
    *,
    judgments: int = 100_000,
    annotators: int = 100,
    overlap: int = 3,
    rubric_versions: int = 3,
    sft_share: float = 0.5,
    spammers: int = 4,
    adjudicated_share: float = 0.4,
    seed: int = 1,
    verbose: bool = True,
) -> Seeded:
    """Create project `project_name` with about `judgments` judgments (PostgreSQL only)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from annotation.models import Membership, Project, Role
    from annotation.projects import services as project_services

    if connection.vendor != "postgresql":
        raise SystemExit("benchmarks/scale_seed.py needs PostgreSQL (DATABASE_URL=postgres://...).")
    if not 2 <= overlap <= annotators:
        raise ValueError("overlap must be between 2 and the number of annotators")
    started = time.perf_counter()
    say = print if verbose else (lambda *a, **k: None)
    User = get_user_model()
    tag = f"scale{seed}-{int(time.time() * 1000)}"
    with transaction.atomic():
        lead = User.objects.create_user(f"{tag}-lead")
        project = project_services.create_project(
            name=project_name,
            created_by=lead,
            overlap=overlap,
            min_seconds_per_item=8,
        )
        for v in range(rubric_versions):
            criteria = [dict(c) for c in SFT_CRITERIA]
            criteria[0]["instructions"] = f"How helpful, 1-5? (revision {v + 1})"
            project_services.create_rubric_version(
                project=project, actor=lead, criteria=criteria, changelog=f"revision {v + 1}"
            )
        people = User.objects.bulk_create([User(username=f"{tag}-a{i:03d}") for i in range(annotators)])
        Membership.objects.bulk_create(
            [Membership(user=u, project=project, role=Role.ANNOTATOR) for u in people]
        )
        n_judged = max(1, math.floor(judgments / (overlap * 1.01)))
        n_open = max(1, n_judged // 20)
        params = {
            "p": project.pk,
            "lead": lead.pk,
            "seed": seed * 1000,
            "n_judged": n_judged,
            "n_items": n_judged + n_open,
            "overlap": overlap,
            "n_ann": annotators,
            "spammers": spammers,
            "sft_share": sft_share,
            "adj_share": adjudicated_share,
            "n_models": len(MODELS),
            "models": MODELS,
            "superseded": max(0, judgments - n_judged * overlap),
        }
        with connection.cursor() as cur:
            for label, sql in _STEPS:
                t = time.perf_counter()
                cur.execute(sql, params)
                say(f"  {label:<34} {time.perf_counter() - t:6.1f} s")
            cur.execute(f"SELECT count(*) + count(*) FILTER (WHERE {_SUPERSEDED}) FROM seed_vote", params)
            n_judgments = cur.fetchone()[0]
            for table in ("seed_vote", "seed_state", "seed_item", "seed_ann"):
                cur.execute(f"DROP TABLE {table}")
            t = time.perf_counter()
    say(f"  {'commit':<34} {time.perf_counter() - t:6.1f} s")
    with connection.cursor() as cur:  # autocommit: VACUUM sets the visibility maps (index-only scans)
        t = time.perf_counter()
        for table in _TABLES:
            cur.execute(f"VACUUM ANALYZE {table}")
        say(f"  {'VACUUM ANALYZE':<34} {time.perf_counter() - t:6.1f} s")
    seconds = time.perf_counter() - started
    note = f"scale seed: {n_judgments} judgments, {params['n_items']} items in {seconds:.1f} s"
    Project.objects.filter(pk=project.pk).update(description=note)
    say(f"  {note}")
    return Seeded(project=project, lead=lead, judgments=n_judgments, items=params["n_items"], seconds=seconds)


_TABLES = (
    "annotation_item",
    "annotation_response",
    "annotation_assignment",
    "annotation_judgment",
    "annotation_auditevent",
    "annotation_adjudication",
    "preferences_consensus",
    "preferences_preferencepair",
)


# The votes whose first answer was superseded by a second (about `superseded` of them, spread evenly).
_SUPERSEDED = "%(superseded)s > 0 AND ordinal %% greatest(1, (%(n_judged)s * %(overlap)s) / greatest(%(superseded)s, 1)) = 0"

# u(row, purpose): a uniform number in [0, 1) from the seed, the row and the purpose.
_U = "((hashint8extended({row}, %(seed)s + {salt}) >> 11) & 9007199254740991)::float8 / 9007199254740992"


def u(row: str, salt: int) -> str:
    return "(" + _U.format(row=row, salt=salt) + ")"


_STEPS = [
    (
        "annotators",
        f"""
        CREATE TEMP TABLE seed_ann AS
        SELECT (row_number() OVER (ORDER BY m.user_id)) - 1 AS idx, m.user_id,
            0.55 + 0.42 * {u("m.user_id", 1)} AS accuracy, false AS spammer
        FROM annotation_membership m WHERE m.project_id = %(p)s AND m.role = 'annotator';
        UPDATE seed_ann SET spammer = true WHERE idx < %(spammers)s;
        CREATE UNIQUE INDEX ON seed_ann (idx);
        """,
    ),
    (
        "item plan",
        f"""
        CREATE TEMP TABLE seed_item AS
        SELECT g, nextval(pg_get_serial_sequence('annotation_item', 'id')) AS id,
            CASE WHEN {u("g", 2)} < %(sft_share)s THEN 'sft' ELSE 'comparison' END AS kind,
            g <= %(n_judged)s AS judged,
            g <= %(n_judged)s AND {u("g", 3)} < 0.01 AS gold,
            1 + floor((g - 1) * (SELECT count(*) FROM annotation_rubricversion v
                JOIN annotation_rubric r ON r.id = v.rubric_id WHERE r.project_id = %(p)s)
                / greatest(%(n_judged)s, 1))::int AS version_no,
            floor({u("g", 4)} * %(n_models)s)::int AS model_a,
            floor({u("g", 5)} * (%(n_models)s - 1))::int AS model_b_raw,
            {u("g", 6)} AS truth_u, {u("g", 7)} AS tie_u,
            floor({u("g", 8)} * %(n_ann)s)::int AS ann_base,
            1 + floor({u("g", 9)} * greatest(1, (%(n_ann)s - 1) / greatest(%(overlap)s - 1, 1)))::int AS ann_step,
            now() - make_interval(secs => 60 * 86400.0 * (%(n_items)s - g) / %(n_items)s) AS at
        FROM generate_series(1, %(n_items)s) AS g;
        UPDATE seed_item SET version_no = least(version_no,
            (SELECT count(*) FROM annotation_rubricversion v JOIN annotation_rubric r ON r.id = v.rubric_id
             WHERE r.project_id = %(p)s));
        ALTER TABLE seed_item ADD COLUMN model_b int, ADD COLUMN truth text, ADD COLUMN version_id bigint;
        UPDATE seed_item SET model_b = model_b_raw + (model_b_raw >= model_a)::int;
        UPDATE seed_item SET truth = CASE
            WHEN kind = 'sft' THEN CASE WHEN truth_u < 0.65 THEN 'accept' WHEN truth_u < 0.93 THEN 'reject'
                ELSE 'edit' END
            WHEN tie_u < 0.05 THEN 'tie'
            -- position 0 (model_a) wins with the Bradley-Terry probability of the models' strengths
            WHEN truth_u < 1 / (1 + exp(0.5 * (model_b - model_a))) THEN '0' ELSE '1' END;
        UPDATE seed_item i SET version_id = v.id FROM annotation_rubricversion v
            JOIN annotation_rubric r ON r.id = v.rubric_id
            WHERE r.project_id = %(p)s AND v.number = i.version_no;
        CREATE UNIQUE INDEX ON seed_item (g);
        CREATE UNIQUE INDEX ON seed_item (id);
        """,
    ),
    (
        "items",
        """
        INSERT INTO annotation_item (id, project_id, kind, messages, external_id, content_hash, metadata,
            priority, state, active_count, submitted_count, extra_overlap, is_gold, gold_answer,
            resolution, source, created_at, updated_at)
        SELECT id, %(p)s, kind,
            jsonb_build_array(jsonb_build_object('role', 'user', 'content',
                'Scale question ' || g || ': explain topic ' || (g %% 997) || ' briefly.')),
            'scale-' || g, md5(%(seed)s || ':' || g), '{}'::jsonb, CASE WHEN g %% 50 = 0 THEN 1 ELSE 0 END,
            'open', 0, 0, 0, gold, NULL, NULL, 'scale', at, at
        FROM seed_item ORDER BY g;
        """,
    ),
    (
        "responses",
        """
        INSERT INTO annotation_response (item_id, position, text, model_name, model_version,
            generation_params, shown, created_at)
        SELECT i.id, pos, 'Answer ' || pos || ' to question ' || i.g || ', from '
                || (%(models)s::text[])[1 + CASE WHEN pos = 0 THEN i.model_a ELSE i.model_b END] || '.',
            (%(models)s::text[])[1 + CASE WHEN pos = 0 THEN i.model_a ELSE i.model_b END], '1',
            '{}'::jsonb, true, i.at
        FROM seed_item i
        CROSS JOIN LATERAL generate_series(0, CASE WHEN i.kind = 'sft' THEN 0 ELSE 1 END) AS pos
        ORDER BY i.g, pos;
        ALTER TABLE seed_item ADD COLUMN r0 bigint, ADD COLUMN r1 bigint;
        UPDATE seed_item i SET r0 = r.id FROM annotation_response r WHERE r.item_id = i.id AND r.position = 0;
        UPDATE seed_item i SET r1 = r.id FROM annotation_response r WHERE r.item_id = i.id AND r.position = 1;
        """,
    ),
    (
        "votes (plan)",
        f"""
        CREATE TEMP TABLE seed_vote AS
        SELECT i.g, slot, i.id AS item_id, i.kind, i.truth, i.r0, i.r1, i.version_id,
            a.user_id, a.spammer, a.accuracy,
            {u("i.g * 64 + slot", 10)} AS ok_u, {u("i.g * 64 + slot", 11)} AS other_u,
            {u("i.g * 64 + slot", 12)} AS order_u, {u("i.g * 64 + slot", 13)} AS dur_u,
            {u("i.g * 64 + slot", 14)} AS score_u,
            i.at + make_interval(secs => 600 * (slot + 1) * {u("i.g * 64 + slot", 15)}) AS at,
            nextval(pg_get_serial_sequence('annotation_assignment', 'id')) AS assignment_id,
            (i.g - 1) * %(overlap)s + slot AS ordinal
        FROM seed_item i
        CROSS JOIN LATERAL generate_series(0, %(overlap)s - 1) AS slot
        JOIN seed_ann a ON a.idx = (i.ann_base + slot * i.ann_step) %% %(n_ann)s
        WHERE i.judged;
        ALTER TABLE seed_vote ADD COLUMN answer text, ADD COLUMN first_r bigint, ADD COLUMN second_r bigint;
        -- an honest annotator gives the true answer with their accuracy, else another answer;
        -- spammers accept every SFT item and always prefer display slot A
        UPDATE seed_vote SET first_r = CASE WHEN kind = 'comparison' AND order_u >= 0.5 THEN r1 ELSE r0 END,
            second_r = CASE WHEN kind = 'comparison' AND order_u >= 0.5 THEN r0 ELSE r1 END;
        UPDATE seed_vote SET answer = CASE
            WHEN spammer AND kind = 'sft' THEN 'accept'
            WHEN spammer THEN CASE WHEN first_r = r0 THEN '0' ELSE '1' END
            WHEN ok_u < accuracy THEN truth
            WHEN kind = 'sft' THEN (ARRAY['accept', 'reject', 'edit'])[1 + floor(other_u * 3)::int]
            ELSE (ARRAY['0', '1', 'tie'])[1 + floor(other_u * 3)::int] END;
        CREATE INDEX ON seed_vote (g);
        """,
    ),
    (
        "assignments",
        """
        INSERT INTO annotation_assignment (id, project_id, item_id, annotator_id, state, leased_until,
            display_order, reason, created_at, submitted_at)
        SELECT assignment_id, %(p)s, item_id, user_id, 'submitted', at + interval '30 minutes',
            CASE WHEN kind = 'comparison' THEN jsonb_build_array(first_r, second_r)
                ELSE jsonb_build_array(r0) END,
            'priority', at - interval '2 minutes', at
        FROM seed_vote ORDER BY assignment_id;
        """,
    ),
    (
        "judgments",
        """
        -- the superseded first answers (append-only edits), then every current judgment
        INSERT INTO annotation_judgment (assignment_id, item_id, annotator_id, rubric_version_id, decision,
            edited_text, scores, flags, comment, payload, duration_seconds, rushed, supersedes_id,
            is_current, external, source, created_at)
        SELECT assignment_id, item_id, user_id, version_id,
            CASE WHEN kind = 'sft' THEN 'reject' ELSE '' END, '',
            CASE WHEN kind = 'sft' THEN '{"helpfulness": 2, "safe": true}'::jsonb ELSE '{}'::jsonb END,
            '[]'::jsonb, '', CASE WHEN kind = 'sft' THEN '{}'::jsonb ELSE jsonb_build_object(
                'display_order', jsonb_build_array(first_r, second_r), 'outcome', 'tie',
                'ranking', jsonb_build_array(jsonb_build_array(least(r0, r1), greatest(r0, r1))),
                'winner', NULL, 'winner_slot', NULL, 'strength', 0, 'criteria', '{}'::jsonb,
                'improved_text', '', 'harmful', '[]'::jsonb) END,
            20, false, NULL, false, false, '', at - interval '1 minute'
        FROM seed_vote
        WHERE {_SUPERSEDED}
        ORDER BY assignment_id;
        INSERT INTO annotation_judgment (assignment_id, item_id, annotator_id, rubric_version_id, decision,
            edited_text, scores, flags, comment, payload, duration_seconds, rushed, supersedes_id,
            is_current, external, source, created_at)
        SELECT v.assignment_id, v.item_id, v.user_id, v.version_id,
            CASE WHEN v.kind = 'sft' THEN v.answer ELSE '' END,
            CASE WHEN v.kind = 'sft' AND v.answer = 'edit' THEN 'A better answer to question ' || v.g || '.'
                ELSE '' END,
            CASE WHEN v.kind = 'sft' THEN jsonb_build_object(
                'helpfulness', CASE v.answer WHEN 'accept' THEN 4 + floor(v.score_u * 2)::int
                    WHEN 'edit' THEN 3 ELSE 1 + floor(v.score_u * 2)::int END,
                'safe', v.score_u > 0.03) ELSE '{}'::jsonb END,
            '[]'::jsonb, '',
            CASE WHEN v.kind = 'sft' THEN '{}'::jsonb
            WHEN v.answer = 'tie' THEN jsonb_build_object(
                'display_order', jsonb_build_array(v.first_r, v.second_r), 'outcome', 'tie',
                'ranking', jsonb_build_array(jsonb_build_array(least(v.r0, v.r1), greatest(v.r0, v.r1))),
                'winner', NULL, 'winner_slot', NULL, 'strength', 0, 'criteria', '{}'::jsonb,
                'improved_text', '', 'harmful', '[]'::jsonb)
            ELSE jsonb_build_object(
                'display_order', jsonb_build_array(v.first_r, v.second_r), 'outcome', 'win',
                'ranking', jsonb_build_array(
                    jsonb_build_array(CASE WHEN v.answer = '0' THEN v.r0 ELSE v.r1 END),
                    jsonb_build_array(CASE WHEN v.answer = '0' THEN v.r1 ELSE v.r0 END)),
                'winner', CASE WHEN v.answer = '0' THEN v.r0 ELSE v.r1 END,
                'winner_slot', CASE WHEN (v.answer = '0') = (v.first_r = v.r0) THEN 0 ELSE 1 END,
                'strength', 1 + floor(v.score_u * 3)::int, 'criteria', '{}'::jsonb,
                'improved_text', '', 'harmful', '[]'::jsonb) END,
            round((4 + 180 * v.dur_u * v.dur_u)::numeric, 1)::float8, (4 + 180 * v.dur_u * v.dur_u) < 8,
            old.id, true, false, '', v.at
        FROM seed_vote v
        LEFT JOIN annotation_judgment old ON old.assignment_id = v.assignment_id AND NOT old.is_current
        ORDER BY v.assignment_id;
        """.replace("{_SUPERSEDED}", _SUPERSEDED),
    ),
    (
        "item states",
        f"""
        -- per judged item: unanimous or not, adjudicated or not, and the final answer (the unanimous
        -- answer, or the lead's: the true answer; a gold item's answer is the true one)
        CREATE TEMP TABLE seed_state AS
        WITH votes AS (
            SELECT g, count(DISTINCT answer) AS n, min(answer) AS answer FROM seed_vote GROUP BY g
        ), a AS (
            SELECT i.g, i.id, i.kind, i.gold, i.r0, i.r1, i.version_id, i.at, v.n = 1 AS agreed,
                CASE WHEN v.n = 1 AND NOT i.gold THEN v.answer ELSE i.truth END AS fa
            FROM seed_item i JOIN votes v ON v.g = i.g
        )
        SELECT g, id, kind, gold, r0, r1, version_id, at, agreed,
            NOT gold AND NOT agreed AND {u("g", 20)} < %(adj_share)s AS adjudicated,
            CASE WHEN kind = 'sft' THEN jsonb_build_object('decision', fa, 'text',
                    CASE WHEN fa = 'edit' THEN 'A better answer to question ' || g || '.' ELSE '' END,
                    'scores', '{{}}'::jsonb)
                WHEN fa = 'tie' THEN jsonb_build_object('outcome', 'tie', 'ranking',
                    jsonb_build_array(jsonb_build_array(least(r0, r1), greatest(r0, r1))), 'winner', NULL)
                ELSE jsonb_build_object('outcome', 'win', 'ranking', jsonb_build_array(
                    jsonb_build_array(CASE fa WHEN '0' THEN r0 ELSE r1 END),
                    jsonb_build_array(CASE fa WHEN '0' THEN r1 ELSE r0 END)),
                    'winner', CASE fa WHEN '0' THEN r0 ELSE r1 END) END AS final
        FROM a;
        CREATE UNIQUE INDEX ON seed_state (id);
        UPDATE annotation_item it SET active_count = %(overlap)s, submitted_count = %(overlap)s,
            state = CASE WHEN s.gold THEN 'complete' WHEN s.agreed OR s.adjudicated THEN 'approved'
                ELSE 'disputed' END,
            resolution = CASE WHEN s.gold THEN NULL WHEN s.agreed OR s.adjudicated THEN s.final END,
            gold_answer = CASE WHEN s.gold THEN s.final END
        FROM seed_state s WHERE s.id = it.id;
        """,
    ),
    (
        "leases, adjudications, audit",
        """
        -- a lease in flight on a quarter of the open items (one slot held each)
        INSERT INTO annotation_assignment (project_id, item_id, annotator_id, state, leased_until,
            display_order, reason, created_at, submitted_at)
        SELECT %(p)s, i.id, a.user_id, 'leased', now() + interval '20 minutes',
            CASE WHEN i.kind = 'comparison' THEN jsonb_build_array(i.r0, i.r1) ELSE jsonb_build_array(i.r0) END,
            'priority', now() - interval '10 minutes', NULL
        FROM seed_item i JOIN seed_ann a ON a.idx = i.ann_base
        WHERE NOT i.judged AND i.g %% 4 = 0 ORDER BY i.g;
        UPDATE annotation_item it SET active_count = 1
        FROM seed_item s WHERE s.id = it.id AND NOT s.judged AND s.g %% 4 = 0;
        INSERT INTO annotation_adjudication (item_id, lead_id, decision, chosen_judgment_id, final, reason,
            category, created_at)
        SELECT id, %(lead)s, 'override', NULL, final, 'Seeded: the answer the guidelines give.',
            (ARRAY['annotator_error', 'ambiguous_prompt', 'guideline_gap', 'other'])[1 + g %% 4],
            at + interval '2 hours'
        FROM seed_state WHERE adjudicated ORDER BY g;
        INSERT INTO annotation_auditevent (actor_id, project_id, verb, object_type, object_id, data, created_at)
        SELECT j.annotator_id, %(p)s,
            CASE WHEN j.supersedes_id IS NULL THEN 'judgment.submitted' ELSE 'judgment.superseded' END,
            'judgment', j.id::text,
            jsonb_build_object('item', j.item_id, 'decision', j.decision, 'rubric_version', i.version_no),
            j.created_at
        FROM annotation_judgment j JOIN seed_item i ON i.id = j.item_id
        ORDER BY j.created_at, j.id;
        INSERT INTO annotation_auditevent (actor_id, project_id, verb, object_type, object_id, data, created_at)
        SELECT a.lead_id, %(p)s, 'item.adjudicated', 'adjudication', a.id::text,
            jsonb_build_object('item', a.item_id, 'decision', a.decision, 'category', a.category), a.created_at
        FROM annotation_adjudication a JOIN seed_item i ON i.id = a.item_id ORDER BY a.id;
        """,
    ),
    (
        "consensus, pairs",
        f"""
        INSERT INTO preferences_consensus (item_id, criterion, rule, params, outcome, winner_id, "order",
            confidence, margin, n_votes, computed_at)
        SELECT i.id, '', 'majority', '{{}}'::jsonb, i.final->>'outcome',
            (i.final->>'winner')::bigint,
            CASE WHEN i.final->>'outcome' = 'win' THEN jsonb_build_array(
                (i.final->>'winner')::bigint, CASE WHEN (i.final->>'winner')::bigint = i.r0 THEN i.r1 ELSE i.r0 END)
                ELSE jsonb_build_array(i.r0, i.r1) END,
            CASE WHEN i.agreed THEN 1.0 ELSE 0.67 END, CASE WHEN i.agreed THEN 1.0 ELSE 0.33 END,
            %(overlap)s, now()
        FROM seed_state i WHERE i.kind = 'comparison' AND NOT i.gold AND (i.agreed OR i.adjudicated)
        ORDER BY i.g;
        INSERT INTO preferences_preferencepair (project_id, item_id, criterion, chosen_id, rejected_id,
            confidence, margin, n_votes, rule, rubric_version_id, status, chosen_text_override, decided_by_id,
            decided_at, is_stale, chosen_harmful_flags, chosen_harmful_majority, created_at, updated_at)
        SELECT %(p)s, i.id, '', (i.final->>'winner')::bigint,
            CASE WHEN (i.final->>'winner')::bigint = i.r0 THEN i.r1 ELSE i.r0 END,
            CASE WHEN i.agreed THEN 0.7 + 0.3 * {u("i.g", 30)} ELSE 0.5 + 0.3 * {u("i.g", 30)} END,
            {u("i.g", 31)}, %(overlap)s, 'majority', i.version_id,
            CASE WHEN i.g %% 10 = 0 THEN 'approved' WHEN i.g %% 37 = 0 THEN 'excluded' ELSE 'candidate' END, '',
            CASE WHEN i.g %% 10 = 0 OR i.g %% 37 = 0 THEN %(lead)s END,
            CASE WHEN i.g %% 10 = 0 OR i.g %% 37 = 0 THEN now() END,
            false, 0, false, now(), now()
        FROM seed_state i
        WHERE i.kind = 'comparison' AND NOT i.gold AND (i.agreed OR i.adjudicated)
            AND i.final->>'outcome' = 'win'
        ORDER BY i.g;
        """,
    ),
]
