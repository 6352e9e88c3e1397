"""Batched generation with soft tokens + injection, and the one text-cleaning function.

Left-padded batches (prompting.collate), greedy by default, stop at the end token or after
max_new_tokens; `generate()` derives position ids from the attention mask, so left padding is
handled, and it returns only the new tokens when given inputs_embeds. The KV cache built in the
prefill pass already holds the injected k/v at the soft positions (the hooks run before
cache.update), so decode steps need no injection. Shared by SEG and XRec.
"""

from __future__ import annotations

import re

import torch
from transformers import DynamicCache

from seller_core.llm.inject import prompt_embeds
from seller_core.llm.lookup import greedy_lookup

_WS = re.compile(r"\s+")
# the schema defaults of seg.generate, for callers without a config (the explain command)
DEFAULT_GENERATE = {"batch_size": 16, "max_new_tokens": 64, "stop": ["\n"], "do_sample": False}


def clean_text(text: str, stop: list[str] = ()) -> str:
    """Cut at the first stop string after the text's start, collapse whitespace, strip.

    Leading whitespace goes first: a model that opens with a newline (the stock SmolLM2 after
    PEPLER's [u, i, <|endoftext|>] does in a third of the cases) has not ended its text yet, and
    cutting there would turn every such text into an empty one."""
    text = text.lstrip()
    for s in stop:
        if s and s in text:
            text = text[: text.index(s)]
    return _WS.sub(" ", text).strip()


@torch.inference_mode()
def generate_ids(model, injector, batch: dict, e, gen_cfg: dict, pad_id: int, eos_id: int, prefix=None) -> torch.Tensor:
    """batch: collate(..., with_target=False) on the model's device (with the prefix's length when
    prefix, a llm/prefix.py PrefixCache, is given); e: (B, K, H) soft vectors or None (bare model).
    -> (B, n_new) new token ids (eos/pad after a row ends).

    With a prefix, generate() gets the whole sequence's embeddings and a fresh cache holding the
    prefix: it prefills only the suffix (it slices off what the cache holds) and derives the
    positions from the full mask, so they continue from the prefix."""
    am = batch["attention_mask"]
    x = prompt_embeds(model, injector, batch, e)
    if gen_cfg.get("lookup"):  # explain --decode lookup: llm/lookup.py, one row
        try:
            if gen_cfg.get("do_sample") or gen_cfg.get("min_new_tokens"):
                raise ValueError("lookup decoding is greedy and stops at the end token (no do_sample, min_new_tokens)")
            cache = prefix.cache(1) if prefix is not None else DynamicCache(config=model.config)
            ids = (prefix.ids if prefix is not None else []) + batch["ids"][0].tolist()
            return greedy_lookup(model, x, am, batch["position_ids"], cache, ids, gen_cfg["max_new_tokens"], eos_id,
                                 injector, bool(gen_cfg.get("compile")))[0]
        finally:
            if injector is not None:
                injector.clear()
    extra = {}
    if prefix is not None:
        x, extra = prefix.full_embeds(x), {"cache": prefix.cache(x.shape[0])}
    try:
        out = model.generate(
            inputs_embeds=x, attention_mask=am, max_new_tokens=gen_cfg["max_new_tokens"], **extra,
            min_new_tokens=gen_cfg.get("min_new_tokens"),  # benchmarks: equal work per row
            do_sample=bool(gen_cfg.get("do_sample", False)), num_beams=1,
            temperature=None, top_p=None, top_k=None,  # greedy: silence sampling defaults of the model's config
            pad_token_id=pad_id, eos_token_id=eos_id,
        )
    finally:
        if injector is not None:
            injector.clear()
    return out


def decode(tok, out: torch.Tensor, stop: list[str]) -> list[str]:
    return [clean_text(t, stop) for t in tok.batch_decode(out, skip_special_tokens=True)]
