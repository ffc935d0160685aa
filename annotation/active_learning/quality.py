"""The learned quality model, Django side: labels from what reviewers decided, training into a
joblib file under TUNELOOP_DATA_DIR, predictions stored as scores, retraining every N decisions.

Labels (one per response): an SFT item's final decision (routing's or a lead's resolution; the
majority of current judgments on a complete item) -> accept = 1, reject or edit = 0 (the output
needed fixing); an item of a many-responses kind with a winner -> the winner 1, the others 0.
"""

from collections import Counter
from pathlib import Path

from django.conf import settings

from annotation.active_learning import learner
from annotation.active_learning.models import ProductionSample, QualityModel, SampleScore, ScoreKind
from annotation.active_learning.scores import embed, embedder_name, project_settings, sample_text
from annotation.active_learning.selection import from_bytes
from annotation.kinds import registry
from annotation.models import Item, ItemState, Judgment

DECIDED = (ItemState.APPROVED, ItemState.COMPLETE)


def _many_kinds() -> set[str]:
    return {k.name for k in registry.all() if k.responses == "many"}


def decided_items(project):
    return Item.objects.filter(project=project, state__in=DECIDED, is_gold=False)


def decision_count(project) -> int:
    return decided_items(project).count()


def labels(project) -> tuple[list[str], list[int]]:
    """(texts, labels) from the project's decided items (see the module docstring)."""
    many = _many_kinds()
    items = list(decided_items(project).prefetch_related("responses"))
    majority = {}
    complete_sft = [i.pk for i in items if i.state == ItemState.COMPLETE and i.kind not in many]
    for item_id, decision in Judgment.objects.filter(item_id__in=complete_sft, is_current=True).values_list(
        "item_id", "decision"
    ):
        majority.setdefault(item_id, Counter())[decision] += 1
    texts, ys = [], []
    for item in items:
        responses = sorted(item.responses.all(), key=lambda r: r.position)
        shown = [r for r in responses if r.shown]
        if not shown:
            continue
        if item.kind in many:
            winner = (item.resolution or {}).get("winner")
            if winner is None:
                continue
            for r in shown:
                texts.append(sample_text(item.prompt_text, r.text))
                ys.append(int(r.pk == winner))
            continue
        if item.resolution:
            decision = item.resolution.get("decision")
        elif item.pk in majority:
            decision = majority[item.pk].most_common(1)[0][0]
        else:
            continue
        if decision not in ("accept", "reject", "edit"):
            continue
        texts.append(sample_text(item.prompt_text, shown[0].text))
        ys.append(int(decision == "accept"))
    return texts, ys


def model_dir(project) -> Path:
    path = Path(settings.DATA_DIR) / "active_learning" / f"project-{project.pk}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def train(project, *, seed: int = 0) -> QualityModel | None:
    """Train and store a quality model; None when there are too few labels (or one class)."""
    import joblib  # deferred: scikit-learn's joblib loads only where a model is trained

    texts, ys = labels(project)
    if len(ys) < learner.MIN_LABELS or len(set(ys)) < 2:
        return None
    X = embed(texts)
    model, accuracy, n = learner.fit(X, ys, seed=seed)
    n_decisions = decision_count(project)
    record = QualityModel.objects.create(
        project=project,
        n_labels=n,
        n_positive=int(sum(ys)),
        n_decisions=n_decisions,
        heldout_accuracy=accuracy,
        path="",
        embedder=embedder_name(),
    )
    path = model_dir(project) / f"quality-{record.pk}.joblib"
    joblib.dump(model, path)
    record.path = str(path)
    record.save(update_fields=["path"])
    return record


def latest(project) -> QualityModel | None:
    return QualityModel.objects.filter(project=project).exclude(path="").first()


def load(record: QualityModel):
    import joblib  # deferred: scikit-learn's joblib loads only where a model is used

    return joblib.load(record.path)


def predictor(project):
    """A callable texts -> P(accepted) with the project's latest quality model, or None."""
    record = latest(project)
    if record is None:
        return None
    model = load(record)
    return lambda texts: learner.predict(model, embed(list(texts)))


def due(project) -> bool:
    """True when N (the project's retrain_every) decisions came in since the last model."""
    record = latest(project)
    done = record.n_decisions if record else 0
    return decision_count(project) - done >= project_settings(project)["retrain_every"]


def maybe_retrain(project) -> QualityModel | None:
    """Retrain when due, then score every embedded sample with the new model; the model or None."""
    if not due(project):
        return None
    record = train(project)
    if record is not None:
        predict_samples(project, record)
    return record


def predict_samples(project, record: QualityModel | None = None) -> int:
    """Store P(accepted) of each embedded sample not yet scored by this quality model."""
    record = record or latest(project)
    if record is None:
        return 0
    version = f"quality-{record.pk}"
    scored = SampleScore.objects.filter(kind=ScoreKind.QUALITY, model_version=version).values("sample_id")
    rows = list(
        ProductionSample.objects.filter(project=project, embedding__isnull=False)
        .exclude(pk__in=scored)
        .values_list("id", "embedding")
    )
    if not rows:
        return 0
    model = load(record)
    X = from_bytes(bytes(e) for _, e in rows)
    probs = learner.predict(model, X)
    SampleScore.objects.bulk_create(
        [
            SampleScore(sample_id=pk, kind=ScoreKind.QUALITY, model_version=version, value=float(p))
            for (pk, _), p in zip(rows, probs, strict=True)
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    ProductionSample.objects.bulk_update(
        [ProductionSample(pk=pk, quality=float(p)) for (pk, _), p in zip(rows, probs, strict=True)],
        ["quality"],
        batch_size=1000,
    )
    return len(rows)
