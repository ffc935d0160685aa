"""Resuming after a killed worker picks the newest checkpoint that was written to the end."""

from training.pipeline.config import TrainConfig
from training.pipeline.run import last_complete_checkpoint, resolve_resume


def checkpoint(root, step, *, complete=True):
    path = root / f"checkpoint-{step}"
    path.mkdir()
    (path / "adapter_model.safetensors").write_bytes(b"w")
    if complete:
        (path / "trainer_state.json").write_text("{}")
    return str(path)


def test_a_partial_checkpoint_from_a_killed_save_is_skipped(tmp_path):
    checkpoint(tmp_path, 2)
    ten = checkpoint(tmp_path, 10)  # numeric order, not text order: 10 is after 9
    checkpoint(tmp_path, 9)
    checkpoint(tmp_path, 12, complete=False)  # the worker died while writing this one
    (tmp_path / "checkpoint-14").mkdir()  # and this one holds nothing yet
    assert last_complete_checkpoint(tmp_path) == ten
    cfg = TrainConfig(method="sft", output_dir=str(tmp_path), resume_from_checkpoint=True)
    assert resolve_resume(cfg) == ten


def test_no_checkpoint_means_a_fresh_start(tmp_path):
    assert last_complete_checkpoint(tmp_path / "missing") is None
    checkpoint(tmp_path, 4, complete=False)
    assert (
        resolve_resume(TrainConfig(method="dpo", output_dir=str(tmp_path), resume_from_checkpoint=True))
        is None
    )
