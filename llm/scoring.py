"""How the model rates a response to a conversation: summed log-probability and mean token entropy.

Both score the response's tokens given the conversation rendered as for generation
(`llm.generate.render_prompt`). An empty response has log-probability 0 and the entropy of the
model's first next-token distribution. Active learning uses these as uncertainty signals.
"""

from __future__ import annotations

from .generate import render_prompt


def sequence_logprobs(model, tokenizer, conversations, responses, *, batch_size: int = 8) -> list[float]:
    """Sum of log p(response token | conversation, previous tokens), one float per pair."""
    return [lp for lp, _ in response_stats(model, tokenizer, conversations, responses, batch_size=batch_size)]


def mean_token_entropy(model, tokenizer, conversations, responses, *, batch_size: int = 8) -> list[float]:
    """Mean entropy (nats) of the model's next-token distribution over the response's positions."""
    return [h for _, h in response_stats(model, tokenizer, conversations, responses, batch_size=batch_size)]


def response_stats(
    model, tokenizer, conversations, responses, *, batch_size: int = 8
) -> list[tuple[float, float]]:
    """`(summed log-probability, mean token entropy)` per (conversation, response), in one pass."""
    import torch  # deferred: heavy optional dependency (torch)

    if len(conversations) != len(responses):
        raise ValueError("conversations and responses must have the same length")
    rows = []
    for conv, response in zip(conversations, responses, strict=True):
        prompt_ids = tokenizer(render_prompt(tokenizer, conv), add_special_tokens=False).input_ids
        response_ids = tokenizer(response, add_special_tokens=False).input_ids if response else []
        rows.append((prompt_ids, response_ids))
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    results = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(p) + len(r) for p, r in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (p, r) in enumerate(chunk):  # right padding: real tokens keep positions 0..n-1
            ids[row, : len(p) + len(r)] = torch.tensor(p + r)
            mask[row, : len(p) + len(r)] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        for row, (p, r) in enumerate(chunk):
            # logits at position t predict token t+1: the response's tokens are predicted from len(p)-1 on
            first = len(p) - 1
            span = logits[row, first : first + max(len(r), 1)].float().log_softmax(-1)
            entropy = -(span.exp() * span).sum(-1).mean().item()
            if r:
                target = torch.tensor(r, device=span.device).unsqueeze(-1)
                logprob = span.gather(-1, target).sum().item()
            else:
                logprob = 0.0
            results.append((logprob, entropy))
    return results
