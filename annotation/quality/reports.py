"""Agreement figures of a project, stored as an `AgreementReport` (recomputed by the Celery task, never
per page view). `build` brings the project's agreement sums up to date (annotation.quality.tally_store:
only the items changed since the previous run, or all of them) and computes the report from them
(annotation.quality.tally_report); `reference_report` is the direct computation over every judgment
(annotation.quality.facts + report), the tests' reference; `recompute_agreement` stores it;
`annotation.quality.tasks.request_recompute` decides whether a lead's "Recompute" queues the task or
runs it in the request.

Report layout (`AgreementReport.data`, JSON; nan is stored as null):
  decisions:  per kind (each kind's label of a judgment: SFT decisions; see annotation.kinds)
              and rubric version ("all" too): nominal alpha, Fleiss' kappa (items with the modal number
              of judgments, the larger number on a tie), percent agreement, items, judgments;
  strength:   per rubric version: ordinal alpha on the kinds' signed strengths (preference_strength_alpha);
  criteria:   per kind, version and criterion: alpha (ordinal for likert, nominal otherwise), percent,
              over rubric scores; also over the per-criterion labels a kind finds in the payload
              (criterion_labels; type = the kind's criterion_label_type, nominal alpha);
  ranking_tau: per annotator, mean Kendall tau-b against the Borda (mean rank) consensus of the
              *other* annotators of each item a kind gives a full ranking of (leave-one-out);
  annotators: per kind, per annotator: judgments, kappa and agreement vs consensus (leave-one-out:
              strict majority of the *other* annotators of the item; ties and items nobody else
              judged are left out), vs gold, pairwise kappas, confusion matrix vs consensus,
              Dawid-Skene accuracy and weight;
  weekly:     per kind and ISO week of an item's last judgment: alpha and percent agreement.
  annotator_weekly: per kind, annotator and ISO week of their judgment: agreement with the others'
              consensus (drift: an annotator whose agreement falls week after week);
  gold:       per annotator over all kinds: gold items judged, correct, accuracy, score accuracy
              (report.gold_table; reports stored before it was added lack it).
  reliability_as_of: when the Dawid-Skene fit behind the annotators' reliability and weight was made
              (computed_at, or an earlier report's when an incremental run kept the fit:
              annotation.quality.refit); reports stored before it was added lack it.
"""

from django.db import transaction
from django.utils import timezone

from annotation.core import audit, changes
from annotation.core.errors import Forbidden
from annotation.core.permissions import can
from annotation.kinds import registry
from annotation.models import AgreementReport
from annotation.quality import facts, report, tally_report, tally_store
from annotation.quality import refit as refit_module


def reference_report(project) -> dict:
    """The report computed the direct way: every current judgment gathered into Python
    (annotation.quality.facts) and every figure computed over them (annotation.quality.report). No
    writes. The tests hold the stored sums' report (`build_report`) to it."""
    return report.compute(facts.gather(project), computed_at=timezone.now().isoformat())


def build_report(project, progress=None, *, since=None) -> dict:
    """The report from the stored sums, brought up to date first (`build`)."""
    return build(project, progress, since=since)[0]


def build(project, progress=None, *, since=None, refit=True) -> tuple[dict, str]:
    """(the report, "full" | "incremental"): the project's sums brought up to date (redoing only the
    items changed at or after `since`; all of them when None: annotation.quality.tally_store), then
    every figure from the sums (annotation.quality.tally_report) and Dawid-Skene from the stored votes
    (`refit`), or, with `refit` False, the annotators' reliability of the latest fit (`AnnotatorReliability`,
    as of the report's "reliability_as_of"; annotation.quality.refit brings it up to date later)."""
    sums, mode = tally_store.refresh(project, since=since, progress=progress)
    return from_sums(project, sums, refit=refit), mode


def from_sums(project, sums: dict, *, refit=True) -> dict:
    """The report from the project's sums; Dawid-Skene refitted (`refit`) or as last fitted."""
    now = timezone.now().isoformat()
    stored = None if refit else refit_module.stored_fit(project)
    reliability, as_of = stored if stored is not None else (tally_store.reliability_fit(project), now)
    data = tally_report.compute(
        sums,
        names=tally_store.names(sums),
        kinds=tuple(registry.names()),
        criterion_types={k.name: k.criterion_label_type for k in registry.all()},
        reliability=reliability,
        computed_at=now,
    )
    data["reliability_as_of"] = as_of
    return data


def recompute_agreement(*, project, actor=None, progress=None, since=None, refit=None) -> AgreementReport:
    """Compute and store the project's agreement report; refresh the annotators' Dawid-Skene weights.
    `since`: redo only the items changed since then (None: every item). `progress(done, total)` is
    visible meanwhile (a full rebuild writes the items' states batch by batch); the report is stored
    in one transaction. `refit` (None: annotation.quality.refit.inline's rule): refit Dawid-Skene now,
    or keep the latest fit and queue the debounced refit (annotation.quality.refit.schedule)."""
    if actor is not None and not can(actor, "view_dashboard", project):
        raise Forbidden("Only leads compute agreement.")
    if refit is None:
        refit = refit_module.inline(since)
    data, mode = build(project, progress, since=since, refit=refit)
    with transaction.atomic():
        stored = store(project, actor, data)
    stored.mode = mode
    if not refit:
        refit_module.schedule(project)
    return stored


def agreement_body(rec, *, since, progress) -> dict:
    """A recorded agreement recompute's work (annotation.quality.tasks): incremental when there was a
    previous run (`since`: only the items changed since it are redone, annotation.quality.tally),
    full otherwise. When no item changed, the previous report stands."""
    project = rec.project
    latest = AgreementReport.objects.filter(project=project).order_by("-id").first()
    if since is not None and latest is not None and not changes.changed_items(project, since).exists():
        return {"report": latest.pk, "mode": "unchanged"}
    stored = recompute_agreement(project=project, actor=rec.requested_by, progress=progress, since=since)
    return {"report": stored.pk, "mode": stored.mode, "judgments": stored.data.get("judgments")}


def refit(project) -> AgreementReport | None:
    """The debounced Dawid-Skene refit (annotation.quality.refit): the report from the stored sums with
    a fresh fit, stored as the latest; None when the sums are incomplete (the next recompute rebuilds)."""
    refit_module.started(project)
    with transaction.atomic():  # an incremental run waits: its report never precedes ours with newer sums
        tally_store.hold(project)
        sums = tally_store.stored_sums(project)
        if sums.get(tally_store.OK) != 1:
            return None
        return store(project, None, from_sums(project, sums, refit=True), verb="agreement.refitted")


def store(project, actor, data, verb="agreement.computed") -> AgreementReport:
    """Store the report and the annotators' reliability rows (only the rows that changed are written)."""
    report = AgreementReport.objects.create(project=project, computed_by=actor, data=data)
    refit_module.write_reliability(project, report, data)
    audit.record(
        actor=actor,
        project=project,
        verb=verb,
        obj=report,
        judgments=data["judgments"],
        items=data["items_judged"],
    )
    return report
