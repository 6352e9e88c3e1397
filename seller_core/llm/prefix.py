"""Shared-prefix reuse: the frozen backbone's keys/values of the prompt ids before the first soft
slot, computed once and continued by every training forward and every `generate` call.

Every adapter-style prompt starts with the same ids (system turn, the user turn's lead: 28 of
SEG's ≈ 95 tokens with SmolLM2's chat template), the backbone is frozen and nothing is injected
before the first slot, so those positions' keys/values are the same constants in every row.
`PrefixCache(model, ids)` runs them once (no grad, batch 1); `cache(B)` hands a forward a FRESH
`DynamicCache` whose layers start from those tensors expanded to B rows (the cache's `torch.cat`
copies them into its own tensors, a few MB per forward, so the shared ones are never written).
The batch itself is [pad | suffix] (prompting.collate with prefix_len), its attention mask covers
[prefix | pad | suffix] and its positions continue from the prefix length.

A method whose prompt starts with a slot (PEPLER: [u, i, <bos>]) has no prefix: `build` returns
None and the callers run the whole rows, as before. Chunked prefill and gradient checkpointing
are not used with it (see llm/inject.py).
"""

from __future__ import annotations

import torch
from transformers import DynamicCache


class PrefixCache:
    def __init__(self, model, ids: list[int]):
        if not ids:
            raise ValueError("an empty prefix has nothing to cache (use PrefixCache.build, which returns None)")
        self.ids = list(ids)
        self.model = model
        dev = model.get_input_embeddings().weight.device
        with torch.no_grad():
            x = torch.as_tensor(self.ids, device=dev)[None]  # (1, P)
            out = model.get_decoder()(input_ids=x, use_cache=True)
        self.kv = [(k, v) for k, v, *_ in out.cache]  # per layer: (1, n_kv, P, head_dim) each
        with torch.no_grad():
            self.embeds = model.get_input_embeddings()(x)  # (1, P, H): generate() takes the full sequence's embeddings

    @classmethod
    def build(cls, model, ids: list[int]) -> "PrefixCache | None":
        return cls(model, ids) if ids else None

    def __len__(self) -> int:
        return len(self.ids)

    def cache(self, batch_size: int) -> DynamicCache:
        """A fresh cache holding the prefix for batch_size rows (a forward appends to it)."""
        return DynamicCache(ddp_cache_data=[(k.expand(batch_size, -1, -1, -1), v.expand(batch_size, -1, -1, -1))
                                            for k, v in self.kv], config=self.model.config)

    def full_embeds(self, suffix: torch.Tensor) -> torch.Tensor:
        """(B, S, H) suffix embeddings -> (B, P + S, H): generate() slices the cached part off itself."""
        return torch.cat([self.embeds.expand(suffix.shape[0], -1, -1).to(suffix.dtype), suffix], dim=1)
