"""SEG's dual-path sequence encoder and MoE adapter (SELLER §3.1.1-3.1.2, Eq. 4-8).

For a user's complete sequence S_u = [i_1 .. i_N] (target i_N INCLUDED: SEG explains post hoc):
- behaviour path (Eq. 4): the pretrained SASRec's contextual output at every position,
  phi_rec(S_u) in R^{|S_u| x 64} (option `behaviour: item_table`: the bare SASRec item-embedding
  rows instead; documented in docs/seg.md);
- semantic path (Eq. 5): the item-text embeddings of the sequence (Sentence-T5 in the paper,
  768-d; all-MiniLM-L6-v2 here, 384-d), projected to d = 64 so the same encoder shape serves both;
then per path (Eq. 6-8): LayerNorm -> + learned position embedding -> 2-layer TransformerEncoder
(key-padding mask) -> masked mean pool (Eq. 7; option: the target position) -> MoE (8 two-layer FFN experts, softmax gating) -> the
LLM's hidden size.

Positions count from the NEWEST item (position 0 = the target). Without positions, an encoder
followed by mean pooling is permutation-invariant and cannot tell the target, the item to
explain, from the history; counting from the newest gives the target the same embedding in
every sample whatever the sequence length.

The inputs arrive precomputed and left-padded (see SequenceFeatures): this module owns only
the trainable part, and its state_dict is the whole SEG checkpoint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from seller_core.llm.inject import InjectionGates, adapter_injection

PATHS = ("rec", "sem")


@dataclass
class SEGConfig:
    llm_hidden: int  # output width: the LLM's hidden size (576 SmolLM2-135M, 4096 LLaMA-2-7B)
    rec_in: int = 64  # SASRec width
    sem_in: int = 384  # item-text embedding width
    use_rec: bool = True  # variant wo_be / wo_de drop a path
    use_sem: bool = True
    d: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 256
    encoder_dropout: float = 0.1
    max_len: int = 51  # longest sequence (history + target)
    n_experts: int = 8
    expert_hidden: int = 256
    expert_dropout: float = 0.2
    init_std: float = 0.02  # experts' output layer: start with small soft tokens (XRec: N(0, 0.02))
    pool: str = "mean"  # Eq. 7 masked mean | "last": the target position's output (docs/seg.md, "Pooling")
    # how the vectors enter the frozen LLM (llm/inject.py, docs/seg.md "Levers"); saved with the weights
    inject_at: str = "slots"  # slots (XRec) | from_slot (Eq. 10 at every position from the first slot on)
    qkv_gate: bool = False  # a zero-initialised gate per layer on the q/k/v additions
    slot_scale: str = "none"  # none | token_norm: the slot's input vector at the token-embedding norm
    llm_layers: int = 0  # the LLM's decoder layers (the gates' rows; 0 without gates)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def paths(self) -> list[str]:
        return [p for p in PATHS if getattr(self, f"use_{p}")]


class MoE(nn.Module):
    """Eq. 8: e = sum_i softmax(W_g h)_i * Expert_i(h), dense gating over all experts."""

    def __init__(self, cfg: SEGConfig):
        super().__init__()
        n, d, h, out = cfg.n_experts, cfg.d, cfg.expert_hidden, cfg.llm_hidden
        self.gate = nn.Linear(d, n)
        # the experts as batched weights: one einsum instead of a Python loop over 8 modules
        self.w1 = nn.Parameter(torch.randn(n, d, h) / d**0.5)
        self.b1 = nn.Parameter(torch.zeros(n, h))
        self.w2 = nn.Parameter(torch.randn(n, h, out) * cfg.init_std)
        self.b2 = nn.Parameter(torch.zeros(n, out))
        self.drop = nn.Dropout(cfg.expert_dropout)

    def forward(self, h):  # h: (B, d) -> (B, out)
        g = F.softmax(self.gate(h), dim=-1)  # (B, n)
        z = self.drop(F.gelu(torch.einsum("bd,ndh->bnh", h, self.w1) + self.b1))  # (B, n, hidden)
        y = torch.einsum("bnh,nho->bno", z, self.w2) + self.b2  # (B, n, out)
        return torch.einsum("bn,bno->bo", g, y)


class PathEncoder(nn.Module):
    """Eq. 6-8 for one path: (B, T, in) left-padded, mask (B, T) -> (B, llm_hidden)."""

    def __init__(self, cfg: SEGConfig, d_in: int):
        super().__init__()
        self.proj = nn.Linear(d_in, cfg.d) if d_in != cfg.d else nn.Identity()
        self.ln = nn.LayerNorm(cfg.d)
        self.pos = nn.Embedding(cfg.max_len, cfg.d)
        layer = nn.TransformerEncoderLayer(cfg.d, cfg.n_heads, cfg.d_ff, cfg.encoder_dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.moe = MoE(cfg)
        self.max_len = cfg.max_len
        if cfg.pool not in ("mean", "last"):
            raise ValueError(f"config key seg.pool: {cfg.pool!r} is not mean | last")
        self.pool = cfg.pool

    def forward(self, x, mask):
        B, T, _ = x.shape
        if T > self.max_len:
            raise ValueError(f"sequence length {T} > max_len {self.max_len}")
        newest_first = torch.arange(T - 1, -1, -1, device=x.device)  # (T,): last column (target) = 0
        h = self.ln(self.proj(x)) + self.pos(newest_first)  # (B, T, d)
        h = self.encoder(h, src_key_padding_mask=~mask)  # (B, T, d)
        if self.pool == "last":
            return self.moe(h[:, -1])  # (B, d): the target's position, which has attended to the whole history
        m = mask[..., None].to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, d): Eq. 7, padding excluded
        return self.moe(pooled)  # (B, llm_hidden)


class SEGAdapter(nn.Module):
    """Both paths -> the soft-token vectors, (B, K, llm_hidden) with K = number of active paths
    (rec first, then sem: the order of Eq. 9)."""

    def __init__(self, cfg: SEGConfig):
        super().__init__()
        self.cfg = cfg  # no path at all (ablation w/o DE): no soft token, nothing to train
        self.paths = nn.ModuleDict({p: PathEncoder(cfg, cfg.rec_in if p == "rec" else cfg.sem_in) for p in cfg.paths})
        if cfg.qkv_gate and cfg.paths:
            if cfg.llm_layers < 1:
                raise ValueError("config key seg.qkv_gate needs the LLM's layer count (SEGConfig.llm_layers)")
            self.gates = InjectionGates(cfg.llm_layers)  # (L, 3), zeros: no q/k/v addition at the start

    def injection(self) -> dict:
        """Injector.configure's arguments for this adapter."""
        return adapter_injection(self)

    def forward(self, feats: dict) -> torch.Tensor:
        """feats: {'rec': (B, T, rec_in), 'sem': (B, T, sem_in), 'mask': (B, T) bool, True = real}."""
        if not self.cfg.paths:
            return feats["mask"].new_zeros(feats["mask"].shape[0], 0, self.cfg.llm_hidden, dtype=torch.float)
        return torch.stack([self.paths[p](feats[p], feats["mask"]) for p in self.cfg.paths], dim=1)


class SequenceFeatures:
    """The frozen inputs of both paths for a batch of sequences (DENSE item ids, oldest first,
    target last): SASRec's per-position outputs (or its item rows) and the item-text embeddings.
    No gradient flows into SASRec or the text embeddings: they are fixed features."""

    def __init__(self, sasrec, item_text_emb: torch.Tensor, behaviour: str = "contextual"):
        if behaviour not in ("contextual", "item_table"):
            raise ValueError(f"config key seg.behaviour: {behaviour!r} is not contextual | item_table")
        if item_text_emb.shape[0] != sasrec.cfg.n_items:
            raise ValueError(f"item_text_emb has {item_text_emb.shape[0]} rows, SASRec knows {sasrec.cfg.n_items} items")
        self.sasrec = sasrec.eval().requires_grad_(False)
        self.text = torch.cat([torch.zeros(1, item_text_emb.shape[1]), item_text_emb.float()])  # row 0 = padding
        self.behaviour = behaviour
        self.max_len = sasrec.cfg.max_len

    @torch.no_grad()
    def __call__(self, sequences) -> dict:
        from seller_core.models.sasrec import pad_left

        seq = pad_left(sequences, self.max_len)  # (B, T) shifted ids, 0 = padding
        mask = seq != 0
        if self.behaviour == "contextual":
            rec = self.sasrec.encode(seq)  # (B, T, 64): causal, so the last column has seen everything
        else:
            rec = self.sasrec.item_emb(seq)  # (B, T, 64)
        return {"rec": rec * mask[..., None], "sem": self.text[seq], "mask": mask}
