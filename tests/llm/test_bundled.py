"""The real bundled SmolLM2: GGUF -> safetensors cache on first use, then a short answer."""

import pytest

from llm import DEFAULT_MODEL, generate, load_model, resolve_model
from llm.loader import is_converted


@pytest.mark.slow
def test_bundled_smollm2_converts_once_and_answers(tmp_path):
    cache = tmp_path / "models"
    path = resolve_model(DEFAULT_MODEL, cache_dir=cache)
    assert path == str(cache / DEFAULT_MODEL)
    assert (cache / DEFAULT_MODEL / "config.json").is_file()
    assert (cache / DEFAULT_MODEL / "model.safetensors").is_file()
    assert "quantization_config" not in (cache / DEFAULT_MODEL / "config.json").read_text()
    assert [p.name for p in cache.iterdir() if p.is_dir()] == [DEFAULT_MODEL]  # no temp dir left behind
    weights_mtime = (cache / DEFAULT_MODEL / "model.safetensors").stat().st_mtime_ns

    model, tokenizer = load_model("HuggingFaceTB/SmolLM2-135M-Instruct", cache_dir=cache, device="cpu")
    assert is_converted(cache / DEFAULT_MODEL)
    assert (cache / DEFAULT_MODEL / "model.safetensors").stat().st_mtime_ns == weights_mtime  # from cache
    assert tokenizer.chat_template
    [answer] = generate(
        model, tokenizer, [[{"role": "user", "content": "What is the capital of France?"}]], max_new_tokens=24
    )
    assert answer.strip()
    assert "<|im_" not in answer
