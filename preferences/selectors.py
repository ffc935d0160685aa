"""Read paths of the preferences app: candidate pairs, leaderboard, position bias."""

import hashlib

import numpy as np
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q

from annotation.core import keyset, page_cache, versions
from annotation.core.errors import InvalidInput
from annotation.kinds.task import build_task
from annotation.models import ItemKind, Judgment, Recompute, Response, RubricVersion

from . import consensus, tallies, tally_state
from .diff import MAX_TOKENS as MAX_DIFF_WORDS
from .diff import word_diff
from .models import PairStatus, PreferencePair

PAIR_ORDER = ["-confidence", "-margin", "id"]  # the pairs page's order (index pair_order_idx)


def pair_cursor(pair) -> str:
    """The pairs page's keyset cursor of `pair` (annotation.core.keyset)."""
    return keyset.encode([pair.confidence, pair.margin, pair.pk])


def candidate_pairs(
    project,
    *,
    min_confidence: float | None = None,
    rubric_version=None,
    criterion: str | None = None,
    model: str = "",
    status: str = "",
    include_stale: bool = False,
    hide_harmful: bool = False,
):
    """Pairs with the filters a lead uses on the curated pairs page (all optional). `hide_harmful`
    leaves out pairs whose chosen response any annotator reported harmful."""
    qs = PreferencePair.objects.filter(project=project).select_related(
        "item", "chosen", "rejected", "rubric_version", "decided_by"
    )
    if not include_stale:
        qs = qs.filter(is_stale=False)
    if min_confidence is not None:
        qs = qs.filter(confidence__gte=min_confidence)
    if rubric_version:
        qs = qs.filter(rubric_version__number=rubric_version)
    if criterion is not None:
        qs = qs.filter(criterion=criterion)
    if model:
        qs = qs.filter(Q(chosen__model_name=model) | Q(rejected__model_name=model))
    if status:
        qs = qs.filter(status=status)
    if hide_harmful:
        qs = qs.filter(chosen_harmful_flags=0)
    return qs.order_by(*PAIR_ORDER)


def latest_consensus_recompute(project):
    """The project's latest consensus recompute (any rule), for the pairs page's progress bar."""
    return Recompute.objects.filter(project=project, what__startswith="consensus:").order_by("-id").first()


def pair_counts(qs) -> dict:
    """{"total", one count per status, "harmful": chosen response reported harmful by anyone,
    "harmful_majority": by a majority of the comparison's judges}: one pass over the pairs."""

    # Counting `status` (never null), not `id`: the unfiltered page's counts read pair_count_idx alone
    return qs.order_by().aggregate(
        total=Count("status"),
        **{status: Count("status", filter=Q(status=status)) for status in PairStatus.values},
        harmful=Count("status", filter=Q(chosen_harmful_flags__gt=0)),
        harmful_majority=Count("status", filter=Q(chosen_harmful_majority=True)),
    )


def cached_pair_counts(project, qs, filters: dict, *, fresh: bool = False) -> dict:
    """`pair_counts` of the pairs page's filtered list, through annotation.core.page_cache (at most a
    minute old on a project large enough for the count to be costly). `fresh`: counted now (after
    the lead's own change, which the page must show), and cached for the next view."""
    digest = hashlib.sha256(repr(sorted(filters.items())).encode()).hexdigest()[:32]
    key = f"{page_cache.project_key(project, 'pair-counts')}:{digest}"
    if fresh:
        cache.delete(key)
    counts, _ = page_cache.figures(key, page_cache.data_stamp(project), lambda: pair_counts(qs))
    return counts


def _model_key(response) -> str:
    name = response["model_name"] or "unknown"
    return f"{name}@{response['model_version']}" if response["model_version"] else name


def comparison_outcomes(project):
    """(models, outcomes, position records) from the current comparison judgments of a project.

    Outcomes are (a, b, score_a) between model indices, every pair implied by each ranking; "both bad"
    and pairs of responses from the same model are left out.
    """

    rows = list(
        Judgment.objects.filter(
            item__project=project, item__kind=ItemKind.COMPARISON, is_current=True
        ).values_list("annotator__username", "payload")
    )
    response_ids = {r for _, p in rows for g in (p or {}).get("ranking", []) for r in g}
    models = {}
    for r in Response.objects.filter(pk__in=response_ids).values("id", "model_name", "model_version"):
        models[r["id"]] = _model_key(r)
    names = sorted(set(models.values()))
    index = {n: i for i, n in enumerate(names)}
    outcomes, positions = [], []
    for annotator, payload in rows:
        if not payload or "ranking" not in payload:
            continue
        positions.append(
            {
                "annotator": annotator,
                "winner_slot": _winner_slot(payload),
                "n_slots": len(payload.get("display_order") or []) or 2,
            }
        )
        if payload.get("outcome") == "both_bad":
            continue
        for pair in consensus.ranking_to_pairs(payload["ranking"]):
            a, b = index.get(models.get(pair.winner)), index.get(models.get(pair.loser))
            if a is None or b is None or a == b:
                continue
            outcomes.append((a, b, 0.5 if pair.tie else 1.0))
    return names, outcomes, positions


def _winner_slot(payload) -> int | None:
    """The display slot of the single best response: stored for pairs; for an N-way ranking, the
    slot of its top response when one response is ranked first alone (None for a tie at the top)."""
    if payload.get("winner_slot") is not None:
        return payload["winner_slot"]
    ranking, order = payload.get("ranking") or [], payload.get("display_order") or []
    if payload.get("outcome") == "ranked" and ranking and len(ranking[0]) == 1 and ranking[0][0] in order:
        return order.index(ranking[0][0])
    return None


def leaderboard(project, *, baseline: str = "", n_boot: int = 500, seed: int = 0) -> dict:
    """Models ranked by Bradley-Terry strength with bootstrap 95% intervals, and the win-rate matrix.

    Computed from win counts SQL aggregates (`preferences.tallies`) and kept in the configured cache
    (shared by every process) under the project's judgment version (`annotation.core.versions`), which
    every judgment bumps once committed: page views between judgments reuse the fit, the first view
    after one refits. Nothing is counted to decide.
    """

    version = versions.current(project.pk)
    stamp = project.created_at.timestamp() if project.created_at else 0  # ids alone may be reused
    # the baseline is the caller's text (up to 500 characters): its digest keeps the key short and plain
    # (the database cache's keys are at most 255 characters; memcached's take no spaces)
    named = hashlib.sha256(baseline.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    key = f"tuneloop:leaderboard:{project.pk}:{stamp}:{version}:{named}:{n_boot}:{seed}"
    board = cache.get(key)
    if board is None:
        board = board_from_tallies(tally_state.tallies(project), baseline=baseline, n_boot=n_boot, seed=seed)
        cache.set(key, board, timeout=24 * 3600)
    return board


def board_from_outcomes(names, outcomes, positions, *, baseline: str = "", n_boot: int = 500, seed: int = 0):
    """The leaderboard from raw outcomes (`comparison_outcomes`): the reference `leaderboard` must equal."""
    wins = np.zeros((len(names), len(names)), dtype=np.int64)
    ties = np.zeros_like(wins)
    for a, b, score in outcomes:
        if score == 0.5:
            ties[min(a, b), max(a, b)] += 1
        else:
            wins[(a, b) if score == 1.0 else (b, a)] += 1
    t = tallies.Tallies(names, wins, ties, positions)
    return board_from_tallies(t, baseline=baseline, n_boot=n_boot, seed=seed)


def board_from_tallies(t, *, baseline: str, n_boot: int, seed: int) -> dict:
    """Fit and tables from `preferences.tallies.Tallies` (win and tie counts, position records)."""
    names = t.names
    positions = sorted(t.positions, key=tallies.position_order)  # one order, however they were counted
    bias = consensus.position_bias(positions).as_dict() if positions else None
    n_outcomes = t.n_outcomes
    if len(names) < 2 or not n_outcomes:
        return {"models": [], "matrix": [], "names": names, "n_outcomes": n_outcomes, "position_bias": bias}
    base = names.index(baseline) if baseline in names else None
    fit = consensus.bt_from_counts(t.wins, t.ties, n_boot=n_boot, seed=seed, baseline=base)
    elo, elo_ci = fit.elo()
    rows = [
        {
            "model": name,
            "strength": float(fit.strengths[i]),
            "strength_ci": [float(x) for x in fit.strengths_ci[i]],
            "elo": round(float(elo[i]), 1),
            "elo_ci": [round(float(x), 1) for x in elo_ci[i]],
            "win_rate": float(fit.win_rate[i]),
            "win_rate_ci": [float(x) for x in fit.win_rate_ci[i]],
        }
        for i, name in enumerate(names)
    ]
    rows.sort(key=lambda r: -r["strength"])
    matrix = consensus.win_rate_from_counts(t.wins, t.ties)
    return {
        "models": rows,
        "names": names,
        "matrix": [[None if x != x else round(float(x), 3) for x in row] for row in matrix],
        "baseline": names[base] if base is not None else None,
        "n_outcomes": n_outcomes,
        "params": fit.params,
        "position_bias": bias,
    }


def pair_filter_choices(project) -> dict:
    """Values the curated-pairs filters offer: rubric version numbers, criteria and model names
    (through annotation.core.page_cache: at most a minute old on a large project)."""
    choices, _ = page_cache.figures(
        page_cache.project_key(project, "pair-choices"),
        page_cache.data_stamp(project),
        lambda: _pair_filter_choices(project),
    )
    return choices


def _pair_filter_choices(project) -> dict:
    """Without reading every pair: the project's rubric versions that have a pair (one indexed probe
    each, on the pairs' rubric_version index), the distinct criteria by a loose scan of
    pair_criterion_idx (PostgreSQL), the model names by `pair_models`."""
    with_pairs = Exists(PreferencePair.objects.filter(project=project, rubric_version=OuterRef("pk")))
    numbers = RubricVersion.objects.filter(rubric__project=project).filter(with_pairs)
    return {
        "rubric_versions": sorted(set(numbers.values_list("number", flat=True))),
        "criteria": pair_criteria(project),
        "models": pair_models(project),
    }


# The distinct criteria of a project's pairs by a loose index scan over pair_criterion_idx (project,
# criterion): one index probe per distinct criterion (PostgreSQL has no skip scan).
_CRITERIA_SQL = """
WITH RECURSIVE criteria(criterion) AS (
    (SELECT criterion FROM preferences_preferencepair WHERE project_id = %s AND criterion > ''
     ORDER BY criterion LIMIT 1)
    UNION ALL
    SELECT (SELECT p.criterion FROM preferences_preferencepair p WHERE p.project_id = %s
            AND p.criterion > criteria.criterion ORDER BY p.criterion LIMIT 1)
    FROM criteria WHERE criteria.criterion IS NOT NULL
)
SELECT criterion FROM criteria WHERE criterion IS NOT NULL
"""


def pair_criteria(project) -> list[str]:
    """The criteria the project's pairs are on ("" = overall, left out), sorted."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(_CRITERIA_SQL, [project.pk, project.pk])
            return [row[0] for row in cur.fetchall()]
    pairs = PreferencePair.objects.filter(project=project)
    return sorted({c for c in pairs.order_by().values_list("criterion", flat=True).distinct() if c})


# Model names of a project's pairs without reading every pair: the distinct model names of all
# responses by a loose scan of response_model_idx, each kept when one of the project's pairs has a
# response of that model (an indexed probe that stops at the first).
_MODELS_SQL = """
WITH RECURSIVE names(name) AS (
    (SELECT model_name FROM annotation_response WHERE model_name > '' ORDER BY model_name LIMIT 1)
    UNION ALL
    SELECT (SELECT r.model_name FROM annotation_response r WHERE r.model_name > names.name
            ORDER BY r.model_name LIMIT 1)
    FROM names WHERE names.name IS NOT NULL
)
SELECT name FROM names WHERE name IS NOT NULL AND (
    EXISTS (SELECT 1 FROM annotation_response r JOIN preferences_preferencepair p ON p.chosen_id = r.id
            WHERE r.model_name = names.name AND p.project_id = %s)
    OR EXISTS (SELECT 1 FROM annotation_response r JOIN preferences_preferencepair p ON p.rejected_id = r.id
            WHERE r.model_name = names.name AND p.project_id = %s))
"""


def pair_models(project) -> list[str]:
    """The model names of the chosen and rejected responses of the project's pairs, sorted."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(_MODELS_SQL, [project.pk, project.pk])
            return sorted(row[0] for row in cur.fetchall())
    pairs = PreferencePair.objects.filter(project=project)
    return sorted(
        {
            name
            for field in ("chosen__model_name", "rejected__model_name")
            for name in pairs.order_by().values_list(field, flat=True).distinct()
            if name
        }
    )


def response_diff(assignment, *, left: str, right: str) -> dict:
    """The word-level difference between two of the responses `assignment` shows, named by their
    slot letters on the annotator's page (display order); InvalidInput for anything else."""
    texts = {r["slot"]: r["text"] for r in build_task(assignment)["responses"]}
    left, right = str(left or "").strip().upper(), str(right or "").strip().upper()
    errors = {}
    for field, slot in (("left", left), ("right", right)):
        if slot not in texts:
            errors[field] = [f"Choose one of the responses: {', '.join(texts)}."]
    if not errors and left == right:
        errors["right"] = ["Choose two different responses."]
    if errors:
        raise InvalidInput(errors=errors)
    diff = word_diff(texts[left], texts[right], max_tokens=MAX_DIFF_WORDS)
    return {"left": left, "right": right, "diff": diff, "max_words": MAX_DIFF_WORDS}
