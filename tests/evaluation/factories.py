"""Evaluation test data: a snapshot with rows and a model version trained on it (tables written
directly: the leakage check and promotion only read them)."""

from training.models import DatasetSnapshot, ModelVersion, SnapshotRow


def user(text):
    return {"role": "user", "content": text}


def snapshot_with(project, prompts, *, kind="sft"):
    snapshot = DatasetSnapshot.objects.create(project=project, kind=kind, name="s", content_hash="h" * 64)
    SnapshotRow.objects.bulk_create(
        [
            SnapshotRow(
                snapshot=snapshot,
                split="train",
                position=i,
                data={"messages": [user(p), {"role": "assistant", "content": "a"}], "response": "a"},
                provenance={"item_id": 10_000 + i},
            )  # fmt: skip
            for i, p in enumerate(prompts)
        ]
    )
    return snapshot


def version(project, *, snapshot=None, name="v1", adapter_path="/tmp/adapter-v1", base_model="base"):
    return ModelVersion.objects.create(
        project=project, name=name, method="dpo", base_model=base_model, adapter_path=adapter_path,
        adapter_sha256="a" * 64, snapshot=snapshot,
    )  # fmt: skip
