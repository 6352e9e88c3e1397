"""The LM side of adapter-style LLM methods: the LM loss on the explanation tokens, the
frozen-backbone assertion and checksum, batching, and one test-set generation loop.

An adapter-style method maps each sample to K soft vectors (B, K, H) for a (mostly frozen) LLM and
is trained with the LM loss on the explanation tokens. XRec (MoE adapters over LightGCN vectors,
with q/k/v injection), PEPLER (learned user/item prompt vectors, input embeddings only) and SEG
(dual-path encoder + MoE over the sequence, with q/k/v injection) all train through
`train/adapter_loop.py: train_adapter` and generate through `generate_texts` here; what differs
per method is only the closure that turns a batch of sample indices into a loss, and the one that
turns them into soft vectors. Nothing here imports `train/`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable

import numpy as np
import torch

from seller_core.llm.generate import decode, generate_ids
from seller_core.llm.inject import prompt_embeds
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import Encoded, collate

log = logging.getLogger(__name__)


def autocast_for(device: str):
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()  # fp32 on CPU: bf16 is slower there


def lm_loss(model, injector, batch: dict, e, prefix: PrefixCache | None = None) -> torch.Tensor:
    """Mean LM loss over the explanation tokens of a collated batch; e (B, K, H) or None (bare LLM).
    prefix: the shared prefix's cache when the batch was collated with its prefix_len (the forward
    then runs on the suffix only). The caller clears the injection context after backward.

    The output layer is applied only where a label follows (about half the positions): with a
    49k vocabulary it is a fifth of the model's compute per token, and the prompt positions'
    logits would be thrown away."""
    x = prompt_embeds(model, injector, batch, e)
    cache = prefix.cache(x.shape[0]) if prefix is not None else None
    h = model.get_decoder()(inputs_embeds=x, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"],
                            cache=cache, use_cache=cache is not None).last_hidden_state  # (B, S, H)
    labels = batch["labels"][:, 1:]  # position t predicts token t + 1
    keep = labels != -100
    logits = model.get_output_embeddings()(h[:, :-1][keep])  # (N, vocab)
    return torch.nn.functional.cross_entropy(logits.float(), labels[keep])


def assert_frozen(model) -> None:
    for name, p in model.named_parameters():
        if p.requires_grad or p.grad is not None:
            raise AssertionError(f"backbone parameter {name} is trainable or holds a gradient: the LLM must stay frozen")


@torch.no_grad()
def checksum(model) -> float:
    return float(sum(p.detach().double().sum().item() for p in model.parameters()))


def to_device(batch: dict, device: str) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def batch_of(rows: list[Encoded], pad_id: int, device: str, with_target: bool,
             prefix: PrefixCache | None = None) -> dict:
    return {k: v.to(device) for k, v in collate(rows, pad_id, with_target, len(prefix) if prefix else 0).items()}


def generate_texts(model, tok, injector, rows: list[Encoded], vectors: Callable[[np.ndarray], torch.Tensor],
                   gen_cfg: dict, device: str, name: str = "generate",
                   prefix: PrefixCache | None = None) -> tuple[list[str], dict]:
    """Greedy (by default) generation for every row, in left-padded batches of prompts sorted by
    length (less padding); texts come back in the input order, cleaned by the shared stop rule.
    vectors(idx) -> (B, K, H) soft vectors of those rows. prefix: the rows' shared prefix cache
    (each batch then prefills its suffixes only). -> (texts, counts)."""
    bs = gen_cfg["batch_size"]
    order = np.argsort([len(r.prompt) for r in rows], kind="stable")
    texts = [""] * len(rows)
    counts = {"prompts": len(rows), "prompt_tokens": 0, "new_tokens": 0}
    t0 = time.perf_counter()
    for start in range(0, len(order), bs):
        idx = order[start:start + bs]
        batch = batch_of([rows[i] for i in idx], tok.pad_token_id, device, with_target=False, prefix=prefix)
        with torch.inference_mode(), autocast_for(device):
            out = generate_ids(model, injector, batch, vectors(idx), gen_cfg, tok.pad_token_id, tok.eos_token_id,
                               prefix)
        for i, t in zip(idx, decode(tok, out, gen_cfg["stop"])):
            texts[i] = t
        counts["prompt_tokens"] += int(batch["attention_mask"].sum())
        counts["new_tokens"] += int((out != tok.pad_token_id).sum())
        log.info("%s: %d/%d (%.1fs)", name, min(start + bs, len(order)), len(order), time.perf_counter() - t0)
    counts["generate_seconds"] = round(time.perf_counter() - t0, 2)
    return texts, counts
