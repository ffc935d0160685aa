"""The stages of the loop demo, each through the app's own public functions, run in this process.

production samples (the model's answers, ingested) -> active-learning scores and a selection batch
(comparisons of a production output against a fresh greedy answer) -> simulated reviewers judge them
in the queue -> consensus and curated pairs (a lead approves the majority pairs of training topics)
-> a DPO snapshot -> a DPO run (LoRA on q/v) -> the held-out pairs (other topics) become an eval set
-> an eval run (leakage check first) -> a blind comparison of fresh generations judged by the same
reviewers -> the gates, and promotion when they pass.

Queued Celery tasks run here and now (`inline_tasks`); a task the broker never got to run (a caller's
open transaction, e.g. a test's) is run directly by its task function, like a worker would.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotation.active_learning import ingest, records, scores, selecting
from annotation.active_learning.models import ProductionSample
from annotation.demo import reviewers
from llm import generate, load_model
from preferences import services as preference_services
from preferences.models import PairStatus, PreferencePair
from training import runs as training_runs
from training import tasks as training_tasks
from training.models import RunState

from .. import campaign, promotion, sets
from .. import runs as eval_runs
from .. import tasks as eval_tasks
from . import rubric

FLIPS = (0.08, 0.08, 0.15)  # three reviewers; the third is a little noisier
PRODUCTION_TEMPERATURE = 0.8


@dataclass
class Options:
    model: str
    quick: bool = False
    samples: int = 120  # production samples (prompts) in the pool
    pairs: int = 80  # comparisons selected for review (training and held-out topics together)
    steps: int = 30  # DPO steps
    seed: int = 0
    project: str = ""
    learning_rate: float = 5e-4
    beta: float = 0.1
    batch_size: int = 4
    # Production samples and the fresh answers beside them: enough for a sentence end within
    # rubric.ANSWER_CHARS (25-40 tokens), where every answer is cut before the line goes on.
    max_new_tokens: int = 40
    # The eval's fresh answers (the win rate) and safety answers: a trained answer plus the line is
    # at most about 46 tokens, so 64 leave room for it.
    eval_max_new_tokens: int = 64
    forgetting_limit: int = 80
    safety_limit: int = 36  # the whole suite (18 prompts expect refusals, 18 not); fewer keep both kinds
    gen_batch_size: int = 24


@dataclass
class State:
    """What the stages made, by id, plus their figures."""

    project: object = None
    lead: object = None
    team: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    snapshot: object = None
    run: object = None
    version: object = None
    eval_set: object = None
    eval_run: object = None
    gates: dict = field(default_factory=dict)
    promoted: bool = False
    timings: list = field(default_factory=list)


@contextlib.contextmanager
def inline_tasks():
    """Queued tasks run in this process as they are queued (CELERY_TASK_ALWAYS_EAGER), then back."""
    from config.celery import app  # cycle: config.celery discovers every app's tasks, this one included

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = eager


class Loop:
    def __init__(self, options: Options, *, say=print):
        self.o, self.say, self.s = options, say, State()
        self._lm = None

    # --- plumbing --------------------------------------------------------------------------------

    def model(self):
        if self._lm is None:
            self._lm = load_model(self.o.model, cache_dir=settings.TUNELOOP_MODEL_CACHE)
        return self._lm

    def stage(self, name: str, fn) -> None:
        started = time.monotonic()
        self.say(f"[{len(self.s.timings) + 1:>2}] {name} ...")
        summary = fn() or ""
        seconds = time.monotonic() - started
        self.s.timings.append({"stage": name, "seconds": round(seconds, 2), "summary": summary})
        self.say(f"     {seconds:7.1f} s  {summary}")

    def run(self) -> State:
        with inline_tasks():
            self.stage("project, rubric and reviewers", self.setup)
            self.stage("production samples (generated, ingested)", self.production)
            self.stage("active learning: embeddings, scores, priorities", self.scoring)
            self.stage("active learning: selection batch -> comparisons", self.selection)
            self.stage("simulated reviewers judge the comparisons", self.review)
            self.stage("consensus and curated pairs", self.consensus)
            self.stage("DPO snapshot", self.snapshot)
            self.stage("DPO training run", self.train)
            self.stage("held-out eval set", self.eval_set)
            self.stage("eval run (model, base, prompting baseline)", self.evaluate)
            self.stage("blind comparison of fresh generations", self.blind_comparison)
            self.stage("gates and promotion", self.promote)
        return self.s

    # --- stages ----------------------------------------------------------------------------------

    def setup(self):
        User = get_user_model()
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        name = self.o.project or f"Loop demo {stamp}"
        lead, created = User.objects.get_or_create(username="loop-lead")
        if created:  # an account for the record (audit trail, promotions), never for logging in
            lead.set_unusable_password()
            lead.save(update_fields=["password"])
        project = reviewers.create_project(
            name=name, lead=lead, criteria=rubric.RUBRIC_CRITERIA, instructions=rubric.RUBRIC_INSTRUCTIONS,
            base_model=self.o.model, overlap=len(FLIPS), agreement_routing=False,
            guidelines=rubric.RUBRIC_INSTRUCTIONS,
        )  # fmt: skip
        team = reviewers.make_team(project, lead, flips=FLIPS, prefix=f"loop-{project.pk}")
        # The prompting baseline: the base model told the rule in a system prompt.
        promotion.set_gates(
            project=project, actor=lead,
            system_prompt=f"End every answer with the line: {rubric.CLOSING_LINE}",
        )  # fmt: skip
        self.s.project, self.s.lead, self.s.team = project, lead, team
        return f"project #{project.pk} {name!r}, {len(team)} reviewers (flip {', '.join(map(str, FLIPS))})"

    def production(self):
        bank = rubric.prompts(self.o.samples)
        lm, tok = self.model()
        convs = [[{"role": "user", "content": p["prompt"]}] for p in bank]
        outputs = generate(
            lm, tok, convs, max_new_tokens=self.o.max_new_tokens, temperature=PRODUCTION_TEMPERATURE,
            top_p=0.95, seed=self.o.seed, batch_size=self.o.gen_batch_size,
        )  # fmt: skip
        rows = []
        for i, (p, text) in enumerate(zip(bank, outputs, strict=True)):
            arm = rubric.ab_arm(self.o.seed, p["prompt"])
            rows.append(
                {
                    "prompt": p["prompt"],
                    "output": rubric.production_text(text, arm),
                    "model_version": "production",
                    "id": f"loop-{i}",
                    "metadata": {"topic": p["topic"], "held_out": p["held_out"], "closing_line_arm": arm},
                }
            )
        result = ingest.ingest(
            project=self.s.project, records=records.parse_rows(rows), actor=self.s.lead, source="loop_demo"
        )
        self.s.counts["samples"] = result.created
        return (
            f"{result.created} samples ({sum(r['metadata']['closing_line_arm'] for r in rows)} with the line)"
        )

    def scoring(self):
        project = self.s.project
        embedded = scores.embed_pending(project)
        scored = scores.score_uncertainty_backlog(project)
        scores.update_priorities(project)
        return f"{embedded} embedded, {scored} uncertainty scores"

    def selection(self):
        project = self.s.project
        batch = selecting.select(
            project=project, actor=self.s.lead, strategy="mix", budget=self.o.pairs,
            output=selecting.Output.VERSUS_FRESH, seed=self.o.seed,
        )  # fmt: skip
        samples = list(batch.samples.filter(item__isnull=True).order_by("id"))
        lm, tok = self.model()
        fresh = generate(
            lm, tok, [s.messages for s in samples], max_new_tokens=self.o.max_new_tokens,
            batch_size=self.o.gen_batch_size,
        )  # fmt: skip
        texts = {s.pk: rubric.pair_texts(s.output, f) for s, f in zip(samples, fresh, strict=True)}
        made = selecting.materialize(batch, fresh=texts)
        self.s.counts.update(selection_batch=batch.pk, comparisons=made)
        return f"batch #{batch.pk} ({batch.strategy}): {batch.n_selected} selected, {made} comparisons"

    def review(self):
        counts = reviewers.judge_pairs(self.s.project, self.s.team, prefer=rubric.prefer, seed=self.o.seed)
        self.s.counts["judgments"] = counts["judgments"]
        self.s.counts["flipped"] = counts["flipped"]
        return (
            f"{counts['judgments']} judgments, {counts['flipped']} against the rubric, {counts['ties']} ties"
        )

    def _held_out_items(self) -> set[int]:
        return {
            item_id
            for item_id, meta in ProductionSample.objects.filter(
                project=self.s.project, item__isnull=False
            ).values_list("item_id", "metadata")
            if (meta or {}).get("held_out")
        }

    def _curate(self, *, held_out: bool) -> int:
        held = self._held_out_items()
        approved = 0
        pairs = PreferencePair.objects.filter(
            project=self.s.project, criterion="", is_stale=False, status=PairStatus.CANDIDATE
        ).select_related("project", "chosen")
        for pair in pairs.order_by("id"):
            if (pair.item_id in held) != held_out or pair.confidence < 0.6:
                continue
            preference_services.set_pair_status(pair=pair, actor=self.s.lead, status=PairStatus.APPROVED)
            approved += 1
        return approved

    def consensus(self):
        stats = preference_services.recompute_consensus(project=self.s.project, actor=self.s.lead)
        approved = self._curate(held_out=False)
        agree = PreferencePair.objects.filter(
            project=self.s.project, criterion="", is_stale=False, status=PairStatus.APPROVED
        )
        right = sum(rubric.ends_with_line(p.chosen.text) for p in agree.select_related("chosen"))
        self.s.counts.update(consensus=stats["comparisons"], pairs=stats["pairs"], approved=approved,
                             approved_rubric_right=right)  # fmt: skip
        return (
            f"{stats['comparisons']} consensus rows, {stats['pairs']} pairs; {approved} training pairs "
            f"approved ({right} agree with the rubric)"
        )

    def snapshot(self):
        snap = training_runs.request_snapshot(
            project=self.s.project, actor=self.s.lead, kind="dpo", name="loop demo pairs",
            # every prompt of the bank is distinct; near-dedupe would drop approved training pairs
            # from the snapshot, and the eval set would then take them up as "never trained on"
            filters={"val_fraction": 0.0, "near_dup_threshold": 1.0},
        )  # fmt: skip
        snap.refresh_from_db()
        if snap.state == "building":  # queued on commit of an outer transaction: build it now
            training_tasks.build_snapshot_task(snap.pk)
            snap.refresh_from_db()
        if snap.state != "ready":
            raise RuntimeError(f"snapshot #{snap.pk} {snap.state}: {snap.error}")
        self.s.snapshot = snap
        return f"snapshot #{snap.pk}: {snap.train_count} train rows, hash {snap.content_hash[:12]}"

    def train(self):
        config = {
            "max_steps": self.o.steps, "learning_rate": self.o.learning_rate, "beta": self.o.beta,
            "per_device_train_batch_size": self.o.batch_size, "logging_steps": 1,
            "save_steps": max(self.o.steps, 1), "max_length": 160, "seed": self.o.seed,
        }  # fmt: skip
        if self.o.quick:
            config.update(lora_r=4, lora_alpha=8, max_length=64)
        run = training_runs.start_run(
            project=self.s.project, actor=self.s.lead, snapshot=self.s.snapshot, method="dpo", config=config
        )
        run.refresh_from_db()
        if run.state == RunState.QUEUED:  # the queued task did not run here (an outer transaction)
            training_tasks.run_training_task(run.pk, run.attempt)
            run.refresh_from_db()
        if run.state != RunState.COMPLETED:
            raise RuntimeError(f"training run #{run.pk} ended {run.state}: {run.error.strip()[-800:]}")
        self.s.run, self.s.version = run, run.model_version
        return f"run #{run.pk}: {run.step} steps, loss {run.loss:.4f}; version {run.model_version.name}"

    def eval_set(self):
        approved = self._curate(held_out=True)
        eval_set = sets.create_from_reviewed(
            project=self.s.project, actor=self.s.lead, name="loop demo held-out pairs"
        )
        self.s.eval_set = eval_set
        self.s.counts["held_out_pairs"] = approved
        return f"eval set #{eval_set.pk}: {eval_set.size} held-out pairs (topics never trained on)"

    def evaluate(self):
        config = {
            "beta": self.o.beta, "max_new_tokens": self.o.eval_max_new_tokens, "batch_size": self.o.gen_batch_size,
            "forgetting_limit": self.o.forgetting_limit, "safety_limit": self.o.safety_limit,
        }  # fmt: skip
        run = eval_runs.start_eval_run(
            project=self.s.project, actor=self.s.lead, version=self.s.version, eval_set=self.s.eval_set,
            on_leak="refuse", config=config,
        )  # fmt: skip
        run.refresh_from_db()
        if run.state == RunState.QUEUED:
            eval_tasks.run_eval_task(run.pk, run.attempt)
            run.refresh_from_db()
        if run.state != RunState.COMPLETED:
            raise RuntimeError(f"eval run #{run.pk} ended {run.state}: {run.error.strip()[-800:]}")
        self.s.eval_run = run
        summary = run.report["summary"]
        acc = lambda arm: ((summary.get(arm) or {}).get("preference") or {}).get("rate")  # noqa: E731
        return (
            f"eval run #{run.pk}: leakage {run.leakage.get('exact', 0)} exact / {run.leakage.get('near', 0)} near; "
            f"preference accuracy base {fmt(acc('base'))}, tuned {fmt(acc('model'))}, baseline {fmt(acc('baseline'))}"
        )

    def blind_comparison(self):
        run = self.s.eval_run
        items = campaign.create_campaign(run=run, actor=self.s.lead, seed=self.o.seed)
        counts = reviewers.judge_pairs(
            self.s.project, self.s.team, prefer=rubric.prefer, seed=self.o.seed + 1
        )
        human = campaign.refresh_human(run) or {}
        run.refresh_from_db()
        self.s.eval_run = run
        self.s.counts.update(campaign_items=len(items), campaign_judgments=counts["judgments"])
        return (
            f"{len(items)} comparison items, {counts['judgments']} judgments; reviewers' win rate "
            f"{fmt(human.get('win_rate'))} [{fmt(human.get('win_rate_low'))}, {fmt(human.get('win_rate_high'))}]"
        )

    def promote(self):
        version = type(self.s.version).objects.get(pk=self.s.version.pk)
        result = promotion.check(version)
        self.s.gates = result
        if result["passed"]:
            promotion.promote(version=version, actor=self.s.lead)
            self.s.promoted = True
            return f"gates passed: {version.name} promoted (the project's current model)"
        failed = [c["name"] for c in result["checks"] if not c["passed"]]
        return f"gates failed ({', '.join(failed) or result.get('reason', '')}): not promoted"


def fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"
