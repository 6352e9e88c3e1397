"""Greedy decoding with prompt-lookup drafts, one row at a time (`explain --decode lookup`).

Why it exists: on demand, a resident adapter method answers a pair in ≈ 1.1-1.8 s on the 2-core
CPU, nearly all of it ≈ 30 batch-1 decode steps, each bound by per-op overhead and by reading
the weights, not by arithmetic (bench/explain_latency.py). Adapter methods' texts copy category
names from the prompt and repeat themselves ("Pilates; Pilates; Boxing;"), so the next tokens can
often be guessed by finding the last few tokens earlier in the prompt or the text so far and
proposing what followed them (prompt lookup, Saxena 2023). One forward then scores the current
token and the DRAFT guesses together (T = 1 + DRAFT positions against the cache); the guesses are
kept up to the first one that is not the model's own greedy choice, plus that choice, and the
cache is cropped back. Every kept token is the argmax of the model at its position, so the text is
the greedy one up to floating point: the longer forward rounds differently from a one-position
step, which could flip a near tie (measured against the exact texts on validation samples:
bench/int4_fidelity.py --decode lookup).

DRAFT is 2 because the cost of a forward grows with its positions beyond two on this CPU (fp32:
T = 2 ≈ T = 1, T = 4 ≈ 2x, T = 7 ≈ 2.4x); longer drafts gave no gain. transformers' own
`prompt_lookup_num_tokens` is not used: given inputs_embeds and a prefix cache (the soft tokens),
its texts differed from greedy's in 15 of 16 validation pairs.

Injection (llm/inject.py) is untouched: a verify forward is shorter than the prompt, so its hooks
take the decode-step branch (from_slot adds at every new position; slots adds nothing). int4
layers (llm/int4.py) treat a verify forward as a decode step through VERIFY_T.
"""

from __future__ import annotations

from contextvars import ContextVar

import torch

DRAFT = 2  # guessed tokens scored with each forward
NGRAM = 3  # the longest run of last tokens looked up (then shorter ones)
# positions a forward may have and still be a decode step (1 outside a verify forward)
VERIFY_T: ContextVar[int] = ContextVar("verify_t", default=1)


def draft(seq: list[int], k: int = DRAFT, ngram: int = NGRAM) -> list[int]:
    """Up to k tokens that followed the latest earlier occurrence of seq's last n tokens
    (n = ngram, ..., 1; the longest match wins); [] when none recurs."""
    for n in range(min(ngram, len(seq) - 1), 0, -1):
        tail = seq[-n:]
        for start in range(len(seq) - n - 1, -1, -1):
            if seq[start:start + n] == tail:
                return seq[start + n:start + n + k]
    return []


@torch.inference_mode()
def greedy_lookup(model, x: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, cache,
                  prompt_ids: list[int], max_new_tokens: int, eos_id: int) -> tuple[torch.Tensor, int]:
    """One row. x: (1, S, H) the prompt's embeddings after what cache holds (the injection context
    set for them); attention_mask: (1, len(cache) + S) ones; position_ids (1, S); prompt_ids: the
    whole prompt's ids (lookup source). -> ((1, n_new) new ids ending at eos or max_new_tokens,
    forwards run)."""
    if x.shape[0] != 1:
        raise ValueError(f"lookup decoding runs one row at a time (batch_size 1), got {x.shape[0]} rows")
    if not bool(attention_mask.all()):
        raise ValueError("lookup decoding takes an unpadded row (batch_size 1)")
    S = x.shape[1]
    out = model(inputs_embeds=x, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
                use_cache=True)
    new, forwards = [int(out.logits[0, -1].argmax())], 1
    pos = int(position_ids[0, -1]) + 1  # the position of new[-1]
    while len(new) < max_new_tokens and new[-1] != eos_id:
        # a verify forward must stay shorter than the prompt: the injection hooks tell decode steps so
        guess = draft(prompt_ids + new)[:max(0, min(max_new_tokens - len(new) - 1, S - 2))]
        ids = torch.tensor([[new[-1]] + guess], device=x.device)  # (1, T)
        T = ids.shape[1]
        token = VERIFY_T.set(T)
        try:
            logits = model(input_ids=ids, position_ids=torch.arange(pos, pos + T, device=x.device)[None],
                           cache=cache, use_cache=True).logits[0]  # (T, V)
        finally:
            VERIFY_T.reset(token)
        forwards += 1
        best = logits.argmax(-1).tolist()  # best[j]: the greedy token after ids[0, :j + 1]
        kept = 0
        while kept < len(guess) and best[kept] == guess[kept] and guess[kept] != eos_id:
            kept += 1
        new += guess[:kept] + [best[kept]]
        pos += kept + 1
        if kept < len(guess):
            cache.crop(-(len(guess) - kept))  # the rejected guesses' keys/values
    if eos_id in new:
        new = new[:new.index(eos_id) + 1]
    return torch.tensor([new[:max_new_tokens]], device=x.device), forwards
