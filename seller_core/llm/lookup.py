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

Injection (llm/inject.py) is untouched but told that every forward after the prefill is a decode
step (`Injector.decode_only`): from_slot adds at every new position; slots adds nothing. int4
layers (llm/int4.py) treat a verify forward as a decode step through VERIFY_T.

`compiled` (explain --decode ...+compile) runs the verify forwards through torch.compile: on the
2-core CPU a batch-1 step of SmolLM2 is half per-op overhead (Python, dispatch, 30 layers of small
kernels), which inductor's fused code removes. For one graph to serve every pair, nothing a
compiled forward reads may change between them: its positions are always 1 + DRAFT, the hooks'
and int4 layers' decode-step tests read constants over the loop, and a cropped cache is made
contiguous again. The prefill stays eager, so the soft tokens enter as in every other path.
"""

from __future__ import annotations

import torch

DRAFT = 2  # guessed tokens scored with each forward
NGRAM = 3  # the longest run of last tokens looked up (then shorter ones)


class _VerifyT:
    """How many positions a forward may have and still be a decode step for the int4 layers (1
    outside lookup decoding's loop). A plain attribute rather than a ContextVar: torch.compile
    guards on it (one value over a compiled loop) but cannot trace ContextVar.get (a graph break
    in every layer)."""

    def __init__(self):
        self.t = 1

    def get(self) -> int:
        return self.t

    def set(self, t: int) -> int:
        old, self.t = self.t, t
        return old

    def reset(self, old: int) -> None:
        self.t = old


VERIFY_T = _VerifyT()


def compiled_forward(model):
    """model.forward under torch.compile, built once per model and kept on it. Only verify
    forwards go through it, each with 1 + DRAFT positions against a cache of any length, so one
    graph serves every pair (dynamic=True: the cache length is symbolic)."""
    if getattr(model, "_lookup_compiled", None) is None:
        model._lookup_compiled = torch.compile(model.forward, dynamic=True)
    return model._lookup_compiled


def _crop(cache, n: int, contiguous: bool) -> None:
    """Drop the last n positions of every layer's keys/values. A compiled forward guards on the
    cache's strides, which a crop (a view) changes: copy it back to contiguous tensors then."""
    cache.crop(-n)
    if contiguous:
        for layer in cache.layers:
            layer.keys, layer.values = layer.keys.contiguous(), layer.values.contiguous()


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
                  prompt_ids: list[int], max_new_tokens: int, eos_id: int, injector=None,
                  compiled: bool = False) -> tuple[torch.Tensor, int]:
    """One row. x: (1, S, H) the prompt's embeddings after what cache holds (the injection context
    set for them, injector the llm/inject.py Injector holding it, or None without hooks);
    attention_mask: (1, len(cache) + S) ones; position_ids (1, S); prompt_ids: the whole prompt's
    ids (lookup source). compiled: verify forwards run compiled_forward(model), every one with
    1 + DRAFT positions (a draft too short is padded with the last token: a wrong guess costs
    nothing but its position). -> ((1, n_new) new ids ending at eos or max_new_tokens, forwards
    run)."""
    if x.shape[0] != 1:
        raise ValueError(f"lookup decoding runs one row at a time (batch_size 1), got {x.shape[0]} rows")
    if not bool(attention_mask.all()):
        raise ValueError("lookup decoding takes an unpadded row (batch_size 1)")
    out = model(inputs_embeds=x, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
                use_cache=True)
    new, forwards = [int(out.logits[0, -1].argmax())], 1
    pos = int(position_ids[0, -1]) + 1  # the position of new[-1]
    if injector is not None:
        injector.decode_only()  # a verify forward is a decode step to the hooks, however short the prompt
    verify = compiled_forward(model) if compiled else model
    token = VERIFY_T.set(1 + DRAFT)  # and to the int4 layers: every forward from here on
    try:
        while len(new) < max_new_tokens and new[-1] != eos_id:
            guess = draft(prompt_ids + new)
            guess = guess + [new[-1]] * (DRAFT - len(guess)) if compiled else guess[:max_new_tokens - len(new) - 1]
            ids = torch.tensor([[new[-1]] + guess], device=x.device)  # (1, T)
            T = ids.shape[1]
            logits = verify(input_ids=ids, position_ids=torch.arange(pos, pos + T, device=x.device)[None],
                            cache=cache, use_cache=True).logits[0]  # (T, V)
            forwards += 1
            best = logits.argmax(-1).tolist()  # best[j]: the greedy token after ids[0, :j + 1]
            kept = 0
            while kept < len(guess) and best[kept] == guess[kept] and guess[kept] != eos_id:
                kept += 1
            new += guess[:kept] + [best[kept]]
            pos += kept + 1
            if kept < len(guess):
                _crop(cache, len(guess) - kept, compiled)  # the rejected guesses' keys/values
    finally:
        VERIFY_T.reset(token)
    if eos_id in new:
        new = new[:new.index(eos_id) + 1]
    return torch.tensor([new[:max_new_tokens]], device=x.device), forwards
