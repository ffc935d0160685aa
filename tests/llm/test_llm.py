"""llm on the tiny random model: resolving, loading, batched generation, scoring."""

import copy
import json
import math
import shutil
from pathlib import Path

import pytest

from llm import (
    DEFAULT_MODEL,
    bundled_model,
    generate,
    generation_params,
    load_model,
    mean_token_entropy,
    render_prompt,
    resolve_model,
    sequence_logprobs,
)
from llm.loader import is_converted

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [
        {"role": "system", "content": "You are a helpful assistant. Answer briefly and politely."},
        {"role": "user", "content": "What is the capital of France? Please explain in simple words."},
    ],
    [{"role": "user", "content": "How do I sort a list in Python?"}],
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir, device="cpu")


@pytest.mark.slow
def test_resolve_passes_local_dirs_and_hub_ids_through(tiny_model_dir):
    assert resolve_model(tiny_model_dir) == str(Path(tiny_model_dir).resolve())
    assert resolve_model("some-org/some-7b-model") == "some-org/some-7b-model"
    assert bundled_model("HuggingFaceTB/SmolLM2-135M-Instruct").name == DEFAULT_MODEL
    assert bundled_model("SMOLLM2-135M-INSTRUCT").name == DEFAULT_MODEL
    assert bundled_model("smollm2") is None


def test_bundled_name_uses_a_finished_cache_without_converting(tmp_path, monkeypatch):
    done = tmp_path / "env-cache" / DEFAULT_MODEL
    done.mkdir(parents=True)
    assert not is_converted(done)  # an interrupted copy does not count
    (done / "config.json").write_text("{}")
    (done / "model.safetensors").write_bytes(b"")
    monkeypatch.setenv("TUNELOOP_MODEL_CACHE", str(tmp_path / "env-cache"))
    assert resolve_model(None) == str(done)
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == str(done)
    other = tmp_path / "arg-cache" / DEFAULT_MODEL
    shutil.copytree(done, other)
    assert resolve_model(DEFAULT_MODEL, cache_dir=tmp_path / "arg-cache") == str(other)


@pytest.mark.slow
def test_load_model_is_in_eval_mode_with_a_pad_token(tiny):
    model, tokenizer = tiny
    assert not model.training
    assert next(model.parameters()).device.type == "cpu"
    assert tokenizer.pad_token is not None


@pytest.mark.slow
def test_load_model_falls_back_to_eos_for_padding(tiny_model_dir, tmp_path):
    copy_dir = shutil.copytree(tiny_model_dir, tmp_path / "nopad")
    config_path = copy_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("pad_token", None)
    config_path.write_text(json.dumps(config))
    model, tokenizer = load_model(copy_dir, device="cpu")
    assert tokenizer.pad_token == tokenizer.eos_token
    assert model.generation_config.pad_token_id is not None


@pytest.mark.slow
def test_generate_batched_matches_one_by_one(tiny):
    model, tokenizer = tiny
    batched = generate(model, tokenizer, CONVERSATIONS, max_new_tokens=8, batch_size=8)
    assert len(batched) == len(CONVERSATIONS)
    assert all(isinstance(text, str) and text for text in batched)
    for conv, text in zip(CONVERSATIONS, batched, strict=True):
        # the same prompt alone, unpadded, straight through transformers: only the new tokens
        ids = tokenizer(render_prompt(tokenizer, conv), return_tensors="pt", add_special_tokens=False)
        out = model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        expected = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        assert text == expected
    prompt_text = render_prompt(tokenizer, CONVERSATIONS[1])
    assert not any(prompt_text.strip() in text for text in batched)


@pytest.mark.slow
def test_generate_sampling_is_seeded(tiny):
    model, tokenizer = tiny
    kwargs = dict(max_new_tokens=12, temperature=1.0, top_p=1.0, batch_size=2)
    first = generate(model, tokenizer, CONVERSATIONS, seed=1, **kwargs)
    assert generate(model, tokenizer, CONVERSATIONS, seed=1, **kwargs) == first
    assert generate(model, tokenizer, CONVERSATIONS, seed=2, **kwargs) != first


@pytest.mark.slow
def test_generate_reports_progress_and_restores_padding_side(tiny):
    model, tokenizer = tiny
    seen = []
    side = tokenizer.padding_side
    generate(
        model,
        tokenizer,
        CONVERSATIONS,
        max_new_tokens=2,
        batch_size=2,
        on_batch=lambda d, t: seen.append((d, t)),
    )
    assert seen == [(2, 3), (3, 3)]
    assert tokenizer.padding_side == side


def test_generation_params_describe_the_decoding():
    assert generation_params(max_new_tokens=64) == {"decoding": "greedy", "max_new_tokens": 64}
    sampled = generation_params(max_new_tokens=96, temperature=0.7, top_p=0.9, seed=3)
    assert sampled == {
        "decoding": "sampling",
        "max_new_tokens": 96,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 3,
    }


@pytest.mark.slow
def test_render_prompt_without_chat_template(tiny):
    _, tokenizer = tiny
    plain = copy.copy(tokenizer)
    plain.chat_template = None
    assert render_prompt(plain, CONVERSATIONS[1]).endswith(
        "user: " + CONVERSATIONS[1][1]["content"] + "\nassistant:"
    )


RESPONSES = ["Paris.", "The capital of France is Paris, a city on the Seine.", "Use sorted(items)."]


@pytest.mark.slow
def test_scores_are_batch_independent_and_match_a_manual_forward(tiny):
    import torch  # heavy: only the slow tests that run a model need it

    model, tokenizer = tiny
    batched = sequence_logprobs(model, tokenizer, CONVERSATIONS, RESPONSES, batch_size=3)
    single = [
        sequence_logprobs(model, tokenizer, [c], [r])[0]
        for c, r in zip(CONVERSATIONS, RESPONSES, strict=True)
    ]
    assert batched == pytest.approx(single, abs=1e-4)
    assert all(math.isfinite(x) and x < 0 for x in batched)

    prompt = tokenizer(render_prompt(tokenizer, CONVERSATIONS[1]), add_special_tokens=False).input_ids
    response = tokenizer(RESPONSES[1], add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(torch.tensor([prompt + response])).logits[0]
    logp = logits.log_softmax(-1)
    manual = sum(logp[len(prompt) - 1 + k, tok].item() for k, tok in enumerate(response))
    assert batched[1] == pytest.approx(manual, abs=1e-4)


@pytest.mark.slow
def test_entropy_is_bounded_and_empty_response_scores_zero(tiny):
    model, tokenizer = tiny
    entropies = mean_token_entropy(model, tokenizer, CONVERSATIONS, RESPONSES)
    assert all(0 < h <= math.log(len(tokenizer)) + 1e-4 for h in entropies)
    assert sequence_logprobs(model, tokenizer, CONVERSATIONS[:1], [""]) == [0.0]
    with pytest.raises(ValueError):
        sequence_logprobs(model, tokenizer, CONVERSATIONS, RESPONSES[:1])


@pytest.mark.slow
def test_training_on_a_response_raises_its_logprob_and_lowers_entropy(tiny):
    import torch  # heavy: only the slow tests that run a model need it

    base, tokenizer = tiny
    model = copy.deepcopy(base)
    conv = [CONVERSATIONS[1]]
    taught, other = "Paris is the capital.", "def add(a, b): return a + b"
    before = sequence_logprobs(model, tokenizer, conv * 2, [taught, other])
    entropy_before = mean_token_entropy(model, tokenizer, conv, [taught])[0]
    prompt = tokenizer(render_prompt(tokenizer, conv[0]), add_special_tokens=False).input_ids
    answer = tokenizer(taught, add_special_tokens=False).input_ids
    ids = torch.tensor([prompt + answer])
    labels = torch.tensor([[-100] * len(prompt) + answer])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(30):
        optimizer.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
    model.eval()
    after = sequence_logprobs(model, tokenizer, conv * 2, [taught, other])
    assert after[0] > before[0] + 5
    assert after[0] > after[1]
    assert mean_token_entropy(model, tokenizer, conv, [taught])[0] < entropy_before


def test_concurrent_first_use_converts_once_and_leaves_no_temp_dirs(tmp_path, monkeypatch):
    """The conversion itself is replaced by a slow file writer: this checks the lock and the rename."""
    import threading
    import time

    from llm import loader

    calls = []

    def slow_convert(gguf_dir, gguf_file, out_dir, *, name_or_path=""):
        calls.append(out_dir)
        time.sleep(0.2)
        (Path(out_dir) / "config.json").write_text("{}")
        (Path(out_dir) / "model.safetensors").write_bytes(b"weights")

    monkeypatch.setattr(loader, "convert_gguf", slow_convert)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(resolve_model(DEFAULT_MODEL, cache_dir=tmp_path)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [str(tmp_path / DEFAULT_MODEL)] * 3
    assert len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [DEFAULT_MODEL]


def test_generated_text_keeps_no_nul_character():
    """PostgreSQL refuses NUL in text and JSON columns: a tiny random model can emit one (CI found it
    in a stored margin score), so generation drops it before anything is stored."""
    from llm.generate import storable

    assert storable("a\x00b\x00") == "ab" and storable("plain ünïcode") == "plain ünïcode"
