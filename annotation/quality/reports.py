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
"""

from django.db import transaction
from django.utils import timezone

from annotation.core import audit, changes
from annotation.core.errors import Forbidden
from annotation.core.permissions import can
from annotation.kinds import registry
from annotation.models import AgreementReport, AnnotatorReliability
from annotation.quality import facts, report, tally_report, tally_store


def reference_report(project) -> dict:
    """The report computed the direct way: every current judgment gathered into Python
    (annotation.quality.facts) and every figure computed over them (annotation.quality.report). No
    writes. The tests hold the stored sums' report (`build_report`) to it."""
    return report.compute(facts.gather(project), computed_at=timezone.now().isoformat())


def build_report(project, progress=None, *, since=None) -> dict:
    """The report from the stored sums, brought up to date first (`build`)."""
    return build(project, progress, since=since)[0]


def build(project, progress=None, *, since=None) -> tuple[dict, str]:
    """(the report, "full" | "incremental"): the project's sums brought up to date (redoing only the
    items changed at or after `since`; all of them when None: annotation.quality.tally_store), then
    every figure from the sums (annotation.quality.tally_report) and Dawid-Skene from the states."""
    sums, mode = tally_store.refresh(project, since=since, progress=progress)
    data = tally_report.compute(
        sums,
        names=tally_store.names(sums),
        kinds=tuple(registry.names()),
        criterion_types={k.name: k.criterion_label_type for k in registry.all()},
        reliability=tally_store.reliability_fit(project),
        computed_at=timezone.now().isoformat(),
    )
    return data, mode


def recompute_agreement(*, project, actor=None, progress=None, since=None) -> AgreementReport:
    """Compute and store the project's agreement report; refresh the annotators' Dawid-Skene weights.
    `since`: redo only the items changed since then (None: every item). `progress(done, total)` is
    visible meanwhile (a full rebuild writes the items' states batch by batch); the report is stored
    in one transaction."""
    if actor is not None and not can(actor, "view_dashboard", project):
        raise Forbidden("Only leads compute agreement.")
    data, mode = build(project, progress, since=since)
    with transaction.atomic():
        stored = _store(project, actor, data)
    stored.mode = mode
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


def _store(project, actor, data) -> AgreementReport:
    report = AgreementReport.objects.create(project=project, computed_by=actor, data=data)
    AnnotatorReliability.objects.filter(project=project).delete()
    AnnotatorReliability.objects.bulk_create(
        [
            AnnotatorReliability(
                project=project,
                annotator_id=row["user_id"],
                kind=kind,
                accuracy=row["reliability"],
                weight=row["weight"],
                n_judgments=row["judgments"],
                report=report,
            )
            for kind, rows in data["annotators"].items()
            for row in rows
            if row.get("weight") is not None
        ]
    )
    audit.record(
        actor=actor,
        project=project,
        verb="agreement.computed",
        obj=report,
        judgments=data["judgments"],
        items=data["items_judged"],
    )
    return report
