"""Explanation-Enhanced Recommender (paper §3.2): SASRec whose attention weights are shifted, per
sample, by a hypernetwork reading the explanation embedding.

For each Transformer layer l and each target map t in `targets` (default q, k, v, o: all four
linear maps of the self-attention), a layer-specific MLP f_l (Eq. 14)

    e (B, e_dim) -> Linear -> GELU -> Linear -> [dW_t (B, d, d), db_t (B, d)] for every t

gives W'_t = W_t + dW_t (and b'_t = b_t + db_t when `bias`). The last Linear of every f_l is
zero-initialised, so before training the EER is exactly the pretrained SASRec. The per-sample
weights are applied with bmm inside sasrec.CausalSelfAttention (no loop over the batch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from seller_core.models.sasrec import ATTN_PARAMS, SASRec, SASRecConfig


@dataclass
class EERConfig:
    e_dim: int  # explanation embedding width (read from the encoder; 384 for MiniLM, 768 for Sentence-T5)
    hidden: int = 128
    targets: list[str] = field(default_factory=lambda: list(ATTN_PARAMS))
    bias: bool = True

    def __post_init__(self):
        bad = [t for t in self.targets if t not in ATTN_PARAMS]
        if bad or not self.targets:
            raise ValueError(f"eer targets must be a non-empty subset of {ATTN_PARAMS}, got {self.targets}")

    def to_dict(self) -> dict:
        return asdict(self)


class HyperNet(nn.Module):
    """One layer's f_l: explanation embedding -> per-sample deltas of that layer's attention maps."""

    def __init__(self, cfg: EERConfig, d: int):
        super().__init__()
        self.targets, self.d, self.bias = list(cfg.targets), d, cfg.bias
        self.per_target = d * d + (d if cfg.bias else 0)
        self.fc = nn.Linear(cfg.e_dim, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, len(self.targets) * self.per_target)
        nn.init.zeros_(self.out.weight)  # zero deltas at start: the EER begins as the pretrained SASRec
        nn.init.zeros_(self.out.bias)

    def forward(self, e):
        # e: (B, e_dim) -> {t: (dW (B, d, d), db (B, d) or None)}
        B, d = e.shape[0], self.d
        z = self.out(F.gelu(self.fc(e)))  # (B, n_t * (d*d [+ d]))
        # torch.split, not slicing: a slice's backward writes into a zero-filled copy of all of z
        sizes = [d * d, d] if self.bias else [d * d]
        parts = z.split(sizes * len(self.targets), dim=1)
        deltas = {}
        for i, t in enumerate(self.targets):
            dw = parts[i * len(sizes)].reshape(B, d, d)  # (B, out, in)
            db = parts[i * len(sizes) + 1] if self.bias else None  # (B, d)
            deltas[t] = (dw, db)
        return deltas


class EER(nn.Module):
    def __init__(self, sasrec: SASRec, cfg: EERConfig):
        super().__init__()
        self.cfg = cfg
        self.sasrec = sasrec
        self.hyper = nn.ModuleList(HyperNet(cfg, sasrec.cfg.d) for _ in range(sasrec.cfg.n_layers))

    @property
    def max_len(self) -> int:
        return self.sasrec.cfg.max_len

    def user_vector(self, seq, e):
        """seq: (B, T) shifted ids, left-padded; e: (B, e_dim) explanation embeddings -> (B, d)."""
        if e.shape != (seq.shape[0], self.cfg.e_dim):
            raise ValueError(f"explanation embeddings {tuple(e.shape)}, expected ({seq.shape[0]}, {self.cfg.e_dim})")
        deltas = [h(e) for h in self.hyper]
        return self.sasrec.user_vector(seq, deltas)

    def score_all(self, h):  # (B, d) -> (B, n_items)
        return self.sasrec.score_all(h)

    def score_items(self, h, items):
        return self.sasrec.score_items(h, items)


def load_eer(model_path) -> tuple[EER, dict]:
    """An EER saved by seller_core.train.eer_train.save_eer, in eval mode, with its metadata."""
    ck = torch.load(model_path, weights_only=False)
    eer = EER(SASRec(SASRecConfig(**ck["sasrec_config"])), EERConfig(**ck["eer_config"]))
    eer.load_state_dict(ck["state_dict"])
    return eer.eval(), ck
