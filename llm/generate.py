"""Batched chat generation: conversations in, new assistant text out.

Prompts are rendered with the tokenizer's chat template (a plain "role: content" layout when it has
none), sorted by length and run in left-padded batches; outputs come back in input order and hold
only the newly generated text. `temperature=0` is greedy decoding; above it, seeded sampling.
"""

from __future__ import annotations

from collections.abc import Callable


def render_prompt(tokenizer, messages: list[dict]) -> str:
    """The conversation as the model sees it, ending where the assistant's turn begins."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nassistant:"


def generation_params(
    *, max_new_tokens: int = 128, temperature: float = 0.0, top_p: float = 1.0, seed: int = 0
) -> dict:
    """What `generate` used, as a JSON-able dict to store beside each response."""
    sampling = temperature > 0
    params = {"decoding": "sampling" if sampling else "greedy", "max_new_tokens": int(max_new_tokens)}
    if sampling:
        params.update(temperature=float(temperature), top_p=float(top_p), seed=int(seed))
    return params


def generate(
    model,
    tokenizer,
    conversations: list[list[dict]],
    *,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    batch_size: int = 8,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Return one completion per conversation (stripped; special tokens removed), in input order.

    `on_batch(done, total)` is called after each batch, for progress reports.
    """
    import torch  # deferred: heavy optional dependency (torch)

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    prompts = [render_prompt(tokenizer, conv) for conv in conversations]
    lengths = [len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    sampling = temperature > 0
    knobs = {"do_sample": sampling}
    if sampling:
        knobs.update(temperature=float(temperature), top_p=float(top_p), top_k=0)
    else:  # override sampling defaults a model's generation_config may carry
        knobs.update(temperature=None, top_p=None, top_k=None)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    outputs: list[str] = [""] * len(prompts)
    saved_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        torch.manual_seed(seed)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            enc = tokenizer(
                [prompts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=pad_id, **knobs)
            new_tokens = out[:, enc["input_ids"].shape[1] :]
            for i, text in zip(
                chunk, tokenizer.batch_decode(new_tokens, skip_special_tokens=True), strict=True
            ):
                outputs[i] = storable(text).strip()
            if on_batch is not None:
                on_batch(min(start + batch_size, len(order)), len(order))
    finally:
        tokenizer.padding_side = saved_side
    return outputs


def storable(text: str) -> str:
    """Generated text as a database can keep it: NUL characters dropped (PostgreSQL refuses them in
    text and JSON; a model that emits one means nothing by it), anything else untouched."""
    return text.replace("\x00", "")
