"""SASRec (Kang & McAuley, 2018): the paper's behavioural encoder and the EER's backbone.

Conventions (shared with eer.py and the training loops):
- Item ids inside the model are the dense ids + 1; 0 is padding. Files never hold shifted ids.
- Sequences are LEFT-padded, so the last column is always the newest item and the prediction
  position at test time is `h[:, -1]`.
- Positions count from the oldest item of the window (0 = oldest real item). A prefix of a
  training window and a truncated test history therefore see the same positions, and trimming a
  batch's padding changes nothing.
- Every linear map of the attention (q, k, v, o) can take a per-sample additive delta
  (dW: (B, out, in), db: (B, out)), applied with bmm: that is how the EER's hypernetwork
  conditions the model on an explanation without a Python loop over the batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

ATTN_PARAMS = ("q", "k", "v", "o")


@dataclass
class SASRecConfig:
    n_items: int  # real items; the embedding table has n_items + 1 rows (row 0 = padding)
    max_len: int = 50
    d: int = 64
    n_layers: int = 2
    n_heads: int = 2
    d_ff: int = 64
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)


def linear(x, layer: nn.Linear, delta=None):
    """layer(x), plus a per-sample (dW, db) when given. x: (B, T, in) -> (B, T, out)."""
    y = layer(x)
    if delta is not None:
        dw, db = delta  # dW: (B, out, in), db: (B, out) or None
        y = y + torch.bmm(x, dw.transpose(1, 2))
        if db is not None:
            y = y + db[:, None, :]
    return y


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: SASRecConfig):
        super().__init__()
        assert cfg.d % cfg.n_heads == 0, "d must be divisible by n_heads"
        self.n_heads, self.dropout = cfg.n_heads, cfg.dropout
        self.q = nn.Linear(cfg.d, cfg.d)
        self.k = nn.Linear(cfg.d, cfg.d)
        self.v = nn.Linear(cfg.d, cfg.d)
        self.o = nn.Linear(cfg.d, cfg.d)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x, allowed, deltas=None):
        # x: (B, T, d); allowed: (B, 1, T, T) bool, True = query may attend to key
        # deltas: None or {name: (dW, db)} for names in ATTN_PARAMS
        deltas = deltas or {}
        B, T, d = x.shape

        def heads(t):  # (B, T, d) -> (B, H, T, d/H)
            return t.view(B, T, self.n_heads, d // self.n_heads).transpose(1, 2)

        q = heads(linear(x, self.q, deltas.get("q")))
        k = heads(linear(x, self.k, deltas.get("k")))
        v = heads(linear(x, self.v, deltas.get("v")))
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, T, d/H)
        y = y.transpose(1, 2).reshape(B, T, d)
        return self.resid_drop(linear(y, self.o, deltas.get("o")))


class FeedForward(nn.Module):
    def __init__(self, cfg: SASRecConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d, cfg.d_ff)
        self.proj = nn.Linear(cfg.d_ff, cfg.d)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):  # (B, T, d) -> (B, T, d)
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-LN Transformer block (stable without warm-up at the small sizes used here)."""

    def __init__(self, cfg: SASRecConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d)
        self.ff = FeedForward(cfg)

    def forward(self, x, allowed, deltas=None):
        x = x + self.attn(self.ln1(x), allowed, deltas)
        return x + self.ff(self.ln2(x))


class SASRec(nn.Module):
    def __init__(self, cfg: SASRecConfig):
        super().__init__()
        self.cfg = cfg
        self.item_emb = nn.Embedding(cfg.n_items + 1, cfg.d, padding_idx=0)  # row 0 = padding
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d)
        self.apply(self._init)

    @property
    def max_len(self) -> int:
        return self.cfg.max_len

    @staticmethod
    def _init(m):
        # RecBole's SASRec init: N(0, 0.02) for linear and embedding weights, zero biases.
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            with torch.no_grad():
                m.weight[m.padding_idx].zero_()

    def encode(self, seq, deltas=None):
        """seq: (B, T) shifted ids, left-padded, T <= max_len -> hidden states (B, T, d).

        deltas: None, or one {name: (dW, db)} dict per layer (see CausalSelfAttention)."""
        B, T = seq.shape
        if T > self.cfg.max_len:
            raise ValueError(f"sequence length {T} > max_len {self.cfg.max_len}")
        valid = seq != 0  # (B, T)
        pos = (valid.cumsum(1) - 1).clamp(min=0)  # (B, T): 0 = oldest real item
        x = (self.item_emb(seq) + self.pos_emb(pos)) * valid[..., None]
        x = self.drop(x)
        causal = torch.ones(T, T, dtype=torch.bool, device=seq.device).tril()
        eye = torch.eye(T, dtype=torch.bool, device=seq.device)
        # A padding query may attend to itself only, so no row is all-masked (which would give NaN).
        allowed = (causal[None] & (valid[:, None, :] | eye[None]))[:, None]  # (B, 1, T, T)
        for i, block in enumerate(self.blocks):
            x = block(x, allowed, None if deltas is None else deltas[i])
        return self.ln_f(x)  # (B, T, d)

    def user_vector(self, seq, deltas=None):
        """(B, T) -> (B, d): the representation that predicts the next item."""
        return self.encode(seq, deltas)[:, -1]

    def score_all(self, h):
        """(..., d) -> (..., n_items) scores of every real item, in dense-id order (padding excluded)."""
        return h @ self.item_emb.weight[1:].T

    def score_items(self, h, items):
        """h: (N, d), items: (N, ...) shifted ids -> (N, ...) dot-product scores."""
        e = self.item_emb(items)  # (N, ..., d)
        return (e * h.view(h.shape[0], *([1] * (items.dim() - 1)), -1)).sum(-1)


def pad_left(histories, max_len: int) -> torch.Tensor:
    """Lists of DENSE item ids (oldest first) -> (B, T) shifted ids, left-padded to the longest
    (after keeping the newest max_len items); T >= 1."""
    rows = [list(h)[-max_len:] for h in histories]
    T = max(1, max((len(r) for r in rows), default=1))
    out = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            out[i, T - len(r) :] = torch.as_tensor(r, dtype=torch.long) + 1
    return out


def bpr_loss(pos_scores, neg_scores):
    """Mean of -log sigmoid(s+ - s-) (paper Eq. 15)."""
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def ce_loss(model: SASRec, h, targets):
    """Full-softmax cross-entropy over every real item. h: (N, d); targets: (N,) shifted ids."""
    return F.cross_entropy(model.score_all(h), targets - 1)


def load_sasrec(model_path) -> SASRec:
    """A SASRec saved by seller_core.train.sasrec_train.save_sasrec, in eval mode."""
    ck = torch.load(model_path, weights_only=False)
    model = SASRec(SASRecConfig(**ck["config"]))
    model.load_state_dict(ck["state_dict"])
    return model.eval()


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
