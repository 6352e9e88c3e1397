"""PETER (Li, Zhang & Chen, ACL 2021): a small Transformer trained from scratch that reads a user id
and an item id and writes an explanation. Written for this project after reading the authors' code
(lileipisces/PETER, module.py); nothing is copied.

Sequence layout (batch-first here; the original is time-first):
    position 0 = user, 1 = item, 2.. = text tokens [<bos>, w1, w2, ...]

The PETER mask (`peter_mask`) is the causal mask plus one extra edge: the user position may look
at the item position. The item still sees the user (it is earlier), every text token sees the
user, the item and the earlier text. That edge lets the user position summarise the pair, which
the original uses for rating prediction.

Heads, as in the original (one shared `hidden2token` projection):
- text:    hidden[:, 2:] -> next-word logits (the LM loss);
- context: hidden[:, 1] (the ITEM position) -> one word distribution, trained to put mass on
           every word of the explanation (bag of words; `context_reg` 1.0);
- rating:  an MLP on hidden[:, 0] in the original. Our samples carry no ratings, so there is no
           rating head and no rating loss (rating_reg = 0 in PETER's terms).

Blocks are post-LN with ReLU (torch's TransformerEncoderLayer defaults, which PETER uses), input
embeddings are scaled by sqrt(emsize) and get sinusoidal positions, and user/item/word embeddings
and the output projection are initialised U(-0.1, 0.1) as in the original.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

UI_LEN = 2  # user and item positions before the text


@dataclass
class PETERConfig:
    n_users: int
    n_items: int
    n_tokens: int  # vocabulary size, special tokens included
    max_words: int = 15  # explanation words; the model sees at most 2 + 1 + max_words positions
    emsize: int = 512
    n_heads: int = 2
    nhid: int = 2048  # feed-forward inner width
    n_layers: int = 2
    dropout: float = 0.2
    pad_idx: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def peter_mask(total_len: int) -> torch.Tensor:
    """(T, T) bool, True = query row may attend to key column. Causal, plus user -> item."""
    allowed = torch.ones(total_len, total_len, dtype=torch.bool).tril()
    if total_len > 1:
        allowed[0, 1] = True  # the user position may see the item position
    return allowed


def sinusoidal_positions(n: int, d: int) -> torch.Tensor:
    """(n, d) fixed sin/cos position table of Vaswani et al. (d even)."""
    pos = torch.arange(n, dtype=torch.float)[:, None]  # (n, 1)
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float) * (-math.log(10000.0) / d))  # (d/2,)
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


class SelfAttention(nn.Module):
    def __init__(self, cfg: PETERConfig):
        super().__init__()
        assert cfg.emsize % cfg.n_heads == 0, "emsize must be divisible by n_heads"
        self.n_heads, self.dropout = cfg.n_heads, cfg.dropout
        self.qkv = nn.Linear(cfg.emsize, 3 * cfg.emsize)
        self.proj = nn.Linear(cfg.emsize, cfg.emsize)

    def forward(self, x, allowed):
        # x: (B, T, d); allowed: (B, 1, T, T) bool, True = may attend
        B, T, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)  # 3 x (B, T, d)
        q, k, v = (t.view(B, T, self.n_heads, d // self.n_heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d/H)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, d))  # (B, T, d)


class Block(nn.Module):
    """Post-LN encoder layer (x = LN(x + attn(x)); x = LN(x + ffn(x))), ReLU, as in PETER."""

    def __init__(self, cfg: PETERConfig):
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.ln1 = nn.LayerNorm(cfg.emsize)
        self.fc = nn.Linear(cfg.emsize, cfg.nhid)
        self.out = nn.Linear(cfg.nhid, cfg.emsize)
        self.ln2 = nn.LayerNorm(cfg.emsize)
        self.drop_attn = nn.Dropout(cfg.dropout)
        self.drop_ff = nn.Dropout(cfg.dropout)
        self.drop_out = nn.Dropout(cfg.dropout)

    def forward(self, x, allowed):  # (B, T, d) -> (B, T, d)
        x = self.ln1(x + self.drop_attn(self.attn(x, allowed)))
        ff = self.out(self.drop_ff(F.relu(self.fc(x))))
        return self.ln2(x + self.drop_out(ff))


class PETER(nn.Module):
    def __init__(self, cfg: PETERConfig):
        super().__init__()
        self.cfg = cfg
        self.user_emb = nn.Embedding(cfg.n_users, cfg.emsize)
        self.item_emb = nn.Embedding(cfg.n_items, cfg.emsize)
        self.word_emb = nn.Embedding(cfg.n_tokens, cfg.emsize)
        self.register_buffer("pos", sinusoidal_positions(UI_LEN + 1 + cfg.max_words, cfg.emsize), persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.hidden2token = nn.Linear(cfg.emsize, cfg.n_tokens)
        for emb in (self.user_emb, self.item_emb, self.word_emb, self.hidden2token):
            nn.init.uniform_(emb.weight, -0.1, 0.1)
        nn.init.zeros_(self.hidden2token.bias)

    def forward(self, user, item, text):
        """user, item: (B,); text: (B, Tt) token ids starting with <bos> -> hidden (B, 2 + Tt, d)."""
        B, Tt = text.shape
        T = UI_LEN + Tt
        if T > self.pos.shape[0]:
            raise ValueError(f"text length {Tt} > 1 + max_words ({1 + self.cfg.max_words})")
        x = torch.cat([self.user_emb(user)[:, None], self.item_emb(item)[:, None], self.word_emb(text)], 1)  # (B, T, d)
        x = self.drop(x * math.sqrt(self.cfg.emsize) + self.pos[:T])
        # Padding tokens are never keys; a padding query still sees user and item, so no row is empty.
        key_ok = torch.cat([torch.ones(B, UI_LEN, dtype=torch.bool, device=text.device), text != self.cfg.pad_idx], 1)  # (B, T)
        allowed = (peter_mask(T).to(text.device)[None] & key_ok[:, None, :])[:, None]  # (B, 1, T, T)
        for block in self.blocks:
            x = block(x, allowed)
        return x

    def word_logits(self, hidden):  # (B, T, d) -> (B, T - 2, V): next-word logits at each text position
        return self.hidden2token(hidden[:, UI_LEN:])

    def context_logits(self, hidden):  # (B, T, d) -> (B, V): bag-of-words logits from the item position
        return self.hidden2token(hidden[:, 1])


def peter_loss(model: PETER, user, item, seq, context_reg: float = 1.0, text_reg: float = 1.0):
    """seq: (B, 2 + max_words) = [<bos>, w1.., <eos>, <pad>..]. Returns (loss, text NLL, context NLL).

    Text: next-word NLL over seq[:, 1:] (eos included, pads ignored). Context: the item position's
    single distribution scored against every token of seq[:, 1:-1], pads ignored — the original's
    target, which also contains <eos> when the explanation is shorter than max_words."""
    pad = model.cfg.pad_idx
    hidden = model(user, item, seq[:, :-1])  # (B, T, d)
    logits = model.word_logits(hidden)  # (B, Tt, V)
    t_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq[:, 1:].reshape(-1), ignore_index=pad)
    ctx = F.log_softmax(model.context_logits(hidden), -1)  # (B, V)
    words = seq[:, 1:-1]  # (B, max_words)
    keep = words != pad
    c_loss = -(ctx.gather(1, words) * keep).sum() / keep.sum().clamp(min=1)
    return text_reg * t_loss + context_reg * c_loss, t_loss, c_loss


@torch.no_grad()
def greedy_decode(model: PETER, user, item, bos_idx: int, eos_idx: int, max_words: int | None = None):
    """Greedy decoding, one full forward per step (sequences are short; no KV cache needed).
    user, item: (B,) -> (B, n) generated ids without <bos>; positions after a row's <eos> are <pad>."""
    model.eval()
    max_words = max_words or model.cfg.max_words
    text = torch.full((len(user), 1), bos_idx, dtype=torch.long, device=user.device)  # (B, 1)
    done = torch.zeros(len(user), dtype=torch.bool, device=user.device)
    for _ in range(max_words):
        nxt = model.word_logits(model(user, item, text))[:, -1].argmax(-1)  # (B,)
        nxt = torch.where(done, torch.full_like(nxt, model.cfg.pad_idx), nxt)
        text = torch.cat([text, nxt[:, None]], 1)
        done |= nxt == eos_idx
        if done.all():
            break
    return text[:, 1:]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
