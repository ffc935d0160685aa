"""training.pipeline: config and row validation, real TRL SFT/DPO runs on the tiny model (a few steps
each, CPU), cancellation, resume, and the pure data helpers (split, hash, PII, quality report)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from training.pipeline import (
    ConfigError,
    TrainConfig,
    content_hash,
    detect_pii,
    quality_report,
    redact_pii,
    run_training,
    split_by_prompt,
    to_trl_dpo,
    to_trl_sft,
    validate_config,
    validate_rows,
)
from training.pipeline import config as config_module
from training.pipeline.pii import luhn_ok
from training.pipeline.run import weights_sha256


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


SFT_ROWS = [
    {"messages": [user(f"What is {i} plus {i}?"), assistant(f"It is {2 * i}, thank you.")]} for i in range(8)
]
DPO_ROWS = [
    {
        "prompt": [user(f"What is the capital of France, question {i}?")],
        "chosen": [assistant("The capital of France is Paris.")],
        "rejected": [assistant(f"I do not know {i}.")],
    }
    for i in range(8)
]


def tiny_cfg(model_dir, out, **kw):
    base = dict(
        base_model=model_dir,
        output_dir=str(out),
        max_steps=3,
        per_device_train_batch_size=2,
        save_steps=2,
        learning_rate=1e-2,
        max_length=64,
    )
    return TrainConfig(**{**base, **kw})


# --- config and rows -------------------------------------------------------------------------------


def test_validate_config_reports_every_bad_field_at_once(monkeypatch):
    monkeypatch.setattr(config_module, "cuda_available", lambda: False)
    cfg = TrainConfig(
        method="dpo",
        output_dir="",
        adapter="qlora",
        lora_r=0,
        lora_alpha=-1,
        lora_dropout=1.0,
        lora_target_modules=[],
        learning_rate=0,
        beta=0,
        loss_type="bogus",
        label_smoothing=0.5,
        per_device_train_batch_size=0,
        max_steps=0,
        resume_from_checkpoint="/no/such/checkpoint",
    )
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    errors = info.value.errors
    for name in (
        "output_dir",
        "adapter",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "lora_target_modules",
        "learning_rate",
        "beta",
        "loss_type",
        "label_smoothing",
        "per_device_train_batch_size",
        "max_steps",
        "resume_from_checkpoint",
    ):
        assert name in errors, name
    assert any("CUDA" in m for m in errors["adapter"])
    assert all(isinstance(m, str) for msgs in errors.values() for m in msgs)


def test_validate_config_method_specific_rules(tmp_path):
    with pytest.raises(ConfigError) as info:
        validate_config(TrainConfig(method="rlhf", output_dir="x", adapter="prefix"))
    assert set(info.value.errors) == {"method", "adapter"}
    with pytest.raises(ConfigError) as info:
        validate_config(TrainConfig(method="dpo", output_dir="x", loss_type="exo_pair"))
    assert "label_smoothing" in info.value.errors
    with pytest.raises(ConfigError) as info:
        validate_config(TrainConfig(method="dpo", output_dir="x", init_adapter=str(tmp_path)))
    assert "init_adapter" in info.value.errors
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"method": "sft", "lora_rank": 8})
    assert set(info.value.errors) == {"lora_rank"}
    # SFT ignores DPO-only knobs
    validate_config(TrainConfig(method="sft", output_dir="x", beta=0, loss_type="whatever"))


def test_validate_config_normalises_and_fills_defaults():
    cfg = validate_config(
        TrainConfig(method="DPO", output_dir="out", loss_type="IPO", lora_target_modules="q_proj, k_proj")
    )
    assert (cfg.method, cfg.loss_type) == ("dpo", "ipo")
    assert cfg.lora_target_modules == ["q_proj", "k_proj"]
    assert cfg.learning_rate == config_module.DEFAULT_LEARNING_RATES[("dpo", "lora")]
    assert cfg.save_steps == config_module.DEFAULT_SAVE_STEPS and cfg.eval_steps == cfg.save_steps
    full = validate_config(TrainConfig(method="sft", output_dir="o", adapter="full", learning_rate=3e-5))
    assert full.learning_rate == 3e-5
    assert validate_config(
        TrainConfig(output_dir="o", lora_target_modules="all-linear")
    ).lora_target_modules == ("all-linear")


def test_validate_rows_sft_reports_row_numbers():
    rows = [
        SFT_ROWS[0],
        {"messages": [user("hi")]},  # no assistant turn
        {"messages": [user("hi"), assistant("   ")]},  # empty answer
        {"prompt": [user("q")], "completion": [assistant("a")]},  # fine
        {"prompt": [user("q")], "completion": [user("a")]},  # completion must be the assistant
        {"text": "plain"},
        "not a dict",
        {"messages": [{"role": "robot", "content": "x"}, assistant("a")]},
    ]
    with pytest.raises(ConfigError) as info:
        validate_rows("sft", rows)
    assert set(info.value.errors) == {"row 2", "row 3", "row 5", "row 6", "row 7", "row 8"}
    assert "assistant" in info.value.errors["row 2"][0]
    validate_rows("sft", SFT_ROWS)
    with pytest.raises(ConfigError) as info:
        validate_rows("sft", [])
    assert "rows" in info.value.errors


def test_validate_rows_dpo():
    same = {**DPO_ROWS[0], "rejected": [assistant("The capital of France is Paris. ")]}
    rows = [
        DPO_ROWS[0],
        same,
        {"prompt": [user("q")], "chosen": [assistant("a")]},
        {"prompt": [user("q")], "chosen": [assistant("a")], "rejected": [assistant("")]},
        {"prompt": [assistant("q")], "chosen": [assistant("a")], "rejected": [assistant("b")]},
        {"prompt": [user("q")], "chosen": [assistant("a"), assistant("b")], "rejected": [assistant("c")]},
    ]
    with pytest.raises(ConfigError) as info:
        validate_rows("dpo", rows)
    errors = info.value.errors
    assert set(errors) == {"row 2", "row 3", "row 4", "row 5", "row 6"}
    assert "same" in errors["row 2"][0]
    assert "rejected" in errors["row 3"][0]
    validate_rows("dpo", DPO_ROWS)


def test_validate_rows_caps_the_listing():
    with pytest.raises(ConfigError) as info:
        validate_rows("dpo", [{}] * 120)
    assert len(info.value.errors) == 51 and "120 rows" in info.value.errors["rows"][0]


# --- runs -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sft_run(tiny_model_dir, tmp_path_factory):
    events = []
    out = tmp_path_factory.mktemp("sft")
    result = run_training(
        tiny_cfg(tiny_model_dir, out, method="sft", eval_steps=2),
        SFT_ROWS,
        eval_rows=SFT_ROWS[:2],
        on_progress=events.append,
    )
    return result, events


def _lora_b_norm(model) -> float:
    return sum(float(p.abs().sum()) for n, p in model.named_parameters() if "lora_B" in n)


def _logits(model, tokenizer, text="What is 3 plus 3?"):
    import torch

    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits


@pytest.mark.slow
def test_sft_end_to_end(sft_run, tiny_model_dir):
    import torch
    from peft import PeftModel

    from llm import load_model

    result, events = sft_run
    assert result.status == "completed" and result.global_step == 3
    logs = [e for e in events if e.kind == "log"]
    assert [e.step for e in logs] == [1, 2, 3]
    assert all(e.max_steps == 3 and math.isfinite(e.loss) and e.loss > 0 for e in logs)
    assert all(e.learning_rate is not None and e.grad_norm is not None for e in logs)
    assert logs[-1].eta_seconds == 0 and logs[0].tokens_per_second > 0
    assert [e.kind for e in events if e.kind != "log"].count("checkpoint") >= 1
    assert any(e.kind == "eval" and "eval_loss" in e.metrics for e in events)
    assert events[-1].kind == "end"
    assert result.history and "loss" in result.metrics and "eval_loss" in result.metrics
    assert result.tokens_seen > 0 and result.train_runtime > 0
    assert set(result.versions) >= {"torch", "transformers", "trl", "peft"}
    assert result.config["method"] == "sft" and result.config["learning_rate"] == 1e-2
    assert result.device["device"] in ("cpu", "cuda")

    adapter = Path(result.adapter_dir)
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "adapter_config.json").is_file()
    assert result.adapter_sha256 == weights_sha256(adapter) and len(result.adapter_sha256) == 64
    assert json.loads((adapter / "adapter_config.json").read_text())["target_modules"]

    base, tokenizer = load_model(tiny_model_dir, device="cpu")
    before = _logits(base, tokenizer)
    tuned = PeftModel.from_pretrained(base, str(adapter))
    assert _lora_b_norm(tuned) > 0  # LoRA B starts at zero: the saved adapter was trained
    assert not torch.allclose(before, _logits(tuned, tokenizer))


@pytest.mark.slow
def test_dpo_end_to_end(tiny_model_dir, tmp_path):
    from peft import PeftModel

    from llm import load_model

    events = []
    result = run_training(
        tiny_cfg(tiny_model_dir, tmp_path, method="dpo"), DPO_ROWS, on_progress=events.append
    )
    assert result.status == "completed"
    logs = [e for e in events if e.kind == "log"]
    assert len(logs) == 3
    for e in logs:
        assert None not in (e.rewards_chosen, e.rewards_rejected, e.rewards_accuracies, e.rewards_margins)
        assert e.metrics["rewards/margins"] == e.rewards_margins
    # Step 1 is computed before any update, with a zero-initialised LoRA B: policy == reference, every
    # margin is 0 and TRL counts the ties as misses.
    assert logs[0].rewards_margins == pytest.approx(0, abs=1e-6) and logs[0].rewards_accuracies == 0
    assert logs[-1].rewards_margins > 0  # chosen is a constant answer: easy to prefer after two steps
    assert "rewards/accuracies" in result.metrics
    base, _ = load_model(tiny_model_dir, device="cpu")
    assert _lora_b_norm(PeftModel.from_pretrained(base, result.adapter_dir)) > 0


@pytest.mark.slow
def test_dpo_from_sft_adapter_uses_it_as_reference(sft_run, tiny_model_dir, tmp_path):
    from peft import PeftModel

    from llm import load_model

    sft_result, _ = sft_run
    events = []
    result = run_training(
        tiny_cfg(tiny_model_dir, tmp_path, method="dpo", init_adapter=sft_result.adapter_dir),
        DPO_ROWS,
        on_progress=events.append,
    )
    assert result.status == "completed"
    first = next(e for e in events if e.kind == "log")
    # The reference is the SFT adapter (not the bare base): at step 1 the policy equals it exactly.
    assert first.rewards_chosen == pytest.approx(0, abs=1e-6)
    assert first.rewards_rejected == pytest.approx(0, abs=1e-6)
    adapter = Path(result.adapter_dir)
    assert not (adapter / "ref").exists()  # only the trained adapter is saved
    assert result.adapter_sha256 != sft_result.adapter_sha256
    base, _ = load_model(tiny_model_dir, device="cpu")
    PeftModel.from_pretrained(base, str(adapter))


@pytest.mark.slow
def test_cancel_saves_a_checkpoint_and_reports_cancelled(tiny_model_dir, tmp_path):
    polls = []

    def should_stop():  # polled once per optimizer step; asks to stop at the end of step 2
        polls.append(1)
        return len(polls) >= 2

    logged = []
    result = run_training(
        # resume=True on an empty output_dir starts fresh (a worker's first attempt)
        tiny_cfg(
            tiny_model_dir, tmp_path, method="sft", max_steps=6, save_steps=100, resume_from_checkpoint=True
        ),
        SFT_ROWS,
        on_progress=lambda e: logged.append(e.step) if e.kind == "log" else None,
        should_stop=should_stop,
    )
    assert result.status == "cancelled"
    assert result.global_step == 2 < 6 and logged[-1] == 2
    assert (tmp_path / "checkpoint-2").is_dir()  # save_steps=100: written by the cancellation
    assert Path(result.adapter_dir, "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_resume_continues_the_global_step(tiny_model_dir, tmp_path):
    first = run_training(tiny_cfg(tiny_model_dir, tmp_path, method="dpo", max_steps=4), DPO_ROWS)
    assert first.global_step == 4 and (tmp_path / "checkpoint-4").is_dir()
    events = []
    second = run_training(
        tiny_cfg(tiny_model_dir, tmp_path, method="dpo", max_steps=6, resume_from_checkpoint=True),
        DPO_ROWS,
        on_progress=events.append,
    )
    log_steps = [e.step for e in events if e.kind == "log"]
    assert log_steps == [5, 6]  # continued, not restarted
    assert second.global_step == 6
    assert second.tokens_seen > first.tokens_seen  # the token counter came back with the trainer state
    assert [h["step"] for h in second.history if "loss" in h] == [1, 2, 3, 4, 5, 6]


def test_run_rejects_bad_rows_before_loading(tmp_path):
    with pytest.raises(ConfigError) as info:
        run_training(
            TrainConfig(method="dpo", base_model="/no/such/model", output_dir=str(tmp_path)), SFT_ROWS
        )
    assert "row 1" in info.value.errors


# --- data helpers -----------------------------------------------------------------------------------


def test_split_by_prompt_has_no_leakage_and_is_deterministic():
    rows = []
    for p in range(20):
        for k in range(1 + p % 3):  # prompts with 1..3 rows each
            rows.append(
                {
                    "prompt": [user(f"prompt {p}")],
                    "chosen": [assistant(f"c{k}")],
                    "rejected": [assistant("r")],
                }
            )
    train, val = split_by_prompt(rows, val_fraction=0.2, seed=7)
    assert len(train) + len(val) == len(rows)
    train_prompts = {json.dumps(r["prompt"]) for r in train}
    val_prompts = {json.dumps(r["prompt"]) for r in val}
    assert train_prompts and val_prompts and not train_prompts & val_prompts
    assert math.ceil(0.2 * len(rows)) <= len(val) < math.ceil(0.2 * len(rows)) + 3
    assert split_by_prompt(rows, 0.2, seed=7) == (train, val)
    shuffled_train, shuffled_val = split_by_prompt(list(reversed(rows)), 0.2, seed=7)
    assert {json.dumps(r["prompt"]) for r in shuffled_val} == val_prompts  # row order does not matter
    assert split_by_prompt(rows, 0.2, seed=8)[1] != val
    assert split_by_prompt(rows, 0.0, seed=7) == (rows, [])
    # messages rows: the final assistant turn is not part of the prompt; a field-name key works too
    msgs = [{"messages": [user(f"q{i % 4}"), assistant(f"a{i}")], "group": i % 4} for i in range(12)]
    t, v = split_by_prompt(msgs, 0.25, seed=1)
    assert v and not {r["messages"][0]["content"] for r in t} & {r["messages"][0]["content"] for r in v}
    t2, v2 = split_by_prompt(msgs, 0.25, seed=1, key="group")
    assert v2 and not {r["group"] for r in t2} & {r["group"] for r in v2}
    with pytest.raises(ValueError):
        split_by_prompt(rows, 1.0)


def test_content_hash_is_canonical():
    a = [{"prompt": "x", "chosen": "y"}, {"n": 1}]
    b = [{"chosen": "y", "prompt": "x"}, {"n": 1}]
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(list(reversed(a)))
    assert content_hash(a) != content_hash([{"prompt": "x", "chosen": "z"}, {"n": 1}])
    assert len(content_hash([])) == 64


def test_converters_produce_valid_trl_rows():
    sft = to_trl_sft(
        [{"messages": [user("hi")], "response": "Hello!"}, {"messages": "plain?", "response": "ok"}]
    )
    assert sft[0] == {"prompt": [user("hi")], "completion": [assistant("Hello!")]}
    assert sft[1]["prompt"] == [user("plain?")]
    validate_rows("sft", sft)
    dpo = to_trl_dpo([{"messages": [user("q")], "chosen": "good", "rejected": "bad"}], system="Be brief.")
    assert dpo[0]["prompt"][0] == {"role": "system", "content": "Be brief."}
    assert dpo[0]["chosen"] == [assistant("good")] and dpo[0]["rejected"] == [assistant("bad")]
    validate_rows("dpo", dpo)


def test_pii_detection_and_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112") and not luhn_ok("12ab")
    text = (
        "Mail jane.doe+work@example.co.uk or call +1 (555) 123-4567 / 020 7946 0958. "
        "Card 4111 1111 1111 1111, not 4111 1111 1111 1112. Meeting on 2024-01-15, pi is 3.14159265358979."
    )
    found = detect_pii(text)
    kinds = [(m.kind, m.text) for m in found]
    assert ("email", "jane.doe+work@example.co.uk") in kinds
    assert ("card", "4111 1111 1111 1111") in kinds
    assert ("phone", "+1 (555) 123-4567") in kinds
    assert ("phone", "020 7946 0958") in kinds
    assert not any("1112" in t for _, t in kinds)  # fails Luhn, and too long for a phone
    assert not any("2024" in t or "14159" in t for _, t in kinds)  # dates and decimals stay
    assert [m.start for m in found] == sorted(m.start for m in found)
    redacted = redact_pii(text)
    assert "[EMAIL]" in redacted and "[CARD]" in redacted and redacted.count("[PHONE]") == 2
    assert "4111 1111 1111 1112" in redacted and "2024-01-15" in redacted
    assert redact_pii("nothing here") == "nothing here" and detect_pii("") == []


def test_quality_report_numbers():
    rows = [
        {
            "messages": [user("Hi there")],
            "chosen": "a b c",
            "rejected": "a b",
            "source": "web",
            "criterion": "help",
        },
        {
            "messages": [user("Hi there")],
            "chosen": "a b c",
            "rejected": "a b",
            "source": "web",
            "criterion": "help",
        },
        {
            "messages": [user("Write me")],
            "chosen": "x",
            "rejected": "x y z",
            "source": "app",
            "criterion": "tone",
        },
        {
            "messages": [user("Mail bob@example.com")],
            "chosen": "ok then",
            "rejected": "ok then",
            "source": "app",
        },
    ]
    report = quality_report(rows, "dpo")
    assert report["count"] == 4
    assert report["duplicates"] == {"rows": 1, "prompts_repeated": 1, "rows_with_repeated_prompt": 2}
    assert report["pairs"]["identical"] == 1
    assert report["pairs"]["chosen_longer_fraction"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["balance"] == {"source": {"web": 2, "app": 2}, "criterion": {"help": 2, "tone": 1}}
    assert report["pii"]["email"] == 1 and report["pii"]["rows_with_pii"] == 1
    assert report["lengths"]["chosen"]["chars"] == {"min": 1, "p50": 5, "p90": 7, "max": 7, "mean": 4.5}
    assert report["lengths"]["rejected"]["tokens"]["max"] == 3
    # responses: "a b c" x2, "a b" x2, "x", "x y z", "ok then" x2 -> unigrams a,b,c,x,y,z,ok,then = 8 of 18
    assert report["diversity"]["distinct_1"] == pytest.approx(8 / 18, abs=1e-4)
    # bigrams: (a b) x4, (b c) x2, (x y), (y z), (ok then) x2 -> 5 distinct of 10
    assert report["diversity"]["distinct_2"] == pytest.approx(5 / 10, abs=1e-4)

    sft = quality_report(SFT_ROWS[:2], "sft")
    assert sft["lengths"]["response"]["tokens"]["min"] == 7  # It is 0 , thank you . and sft["balance"] == {}
    assert sft["duplicates"]["rows"] == 0 and "pairs" not in sft
