"""Agreement figures of a project, stored as an `AgreementReport` (recomputed by the Celery task, never
per page view). `annotation.quality.facts` gathers what the report needs in a few queries;
`annotation.quality.report` computes it (pure); `recompute_agreement` stores it; `annotation.quality.tasks.request_recompute`
decides whether a lead's "Recompute" queues the task or runs it in the request.

Report layout (`AgreementReport.data`, JSON; nan is stored as null):
  decisions:  per kind (each kind's label of a judgment: SFT decisions; see annotation.kinds)
              and rubric version ("all" too): nominal alpha, Fleiss' kappa (items with the modal number
              of judgments), percent agreement, items, judgments;
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
from annotation.models import AgreementReport, AnnotatorReliability
from annotation.quality import facts, report


def build_report(project, progress=None) -> dict:
    """Compute every figure of the report from the project's current judgments (no writes)."""
    report_progress = progress or (lambda done, total: None)
    report_progress(0, 3)
    gathered = facts.gather(project)
    report_progress(1, 3)
    return report.compute(gathered, computed_at=timezone.now().isoformat())


def recompute_agreement(*, project, actor=None, progress=None) -> AgreementReport:
    """Compute and store the project's agreement report; refresh the annotators' Dawid-Skene weights.
    Reads and computes outside a transaction (`progress(done, total)` is visible meanwhile); stores
    in one."""
    if actor is not None and not can(actor, "view_dashboard", project):
        raise Forbidden("Only leads compute agreement.")
    data = build_report(project, progress)
    if progress is not None:
        progress(2, 3)
    with transaction.atomic():
        stored = _store(project, actor, data)
    if progress is not None:
        progress(3, 3)
    return stored


def agreement_body(rec, *, since, progress) -> dict:
    """A recorded agreement recompute's work (annotation.quality.tasks). The report's figures (alpha,
    kappas, Dawid-Skene) are over every item, so each run computes them all; when no item changed
    since the previous run (`since`), the previous report stands and nothing is recomputed."""
    project = rec.project
    latest = AgreementReport.objects.filter(project=project).order_by("-id").first()
    if since is not None and latest is not None and not changes.changed_items(project, since).exists():
        return {"report": latest.pk, "mode": "unchanged"}
    stored = recompute_agreement(project=project, actor=rec.requested_by, progress=progress)
    return {"report": stored.pk, "mode": "full", "judgments": stored.data.get("judgments")}


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
