"""Training data for sequential models: user sequences, target windows, bucketed batches, negatives.

Every position of every training sequence is a target exactly once: a user's chronological
sequence s is cut, from its end, into windows of max_len + 1 items; window inputs are s[a:b-1]
and targets s[a+1:b]. Windows are stored left-padded with shifted ids (0 = padding).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def user_sequences(interactions: pd.DataFrame, split: str = "train") -> list[np.ndarray]:
    """Chronological dense item ids per user, for interactions of `split` (file order breaks ties)."""
    missing = {"user_id", "item_id", "timestamp", "split"} - set(interactions.columns)
    if missing:
        raise ValueError(f"interactions lack columns {sorted(missing)}")
    df = interactions.loc[interactions["split"] == split, ["user_id", "item_id", "timestamp"]]
    df = df.reset_index(drop=True)
    df["_row"] = np.arange(len(df))
    df = df.sort_values(["user_id", "timestamp", "_row"], kind="stable")
    users = df["user_id"].to_numpy()
    items = df["item_id"].to_numpy(dtype=np.int64)
    cuts = np.flatnonzero(np.diff(users)) + 1
    return [s for s in np.split(items, cuts) if len(s) >= 2]


def windows(seqs: list[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> inputs (W, max_len), targets (W, max_len) shifted ids, left-padded; lengths (W,)."""
    spans = []
    for s in seqs:
        end = len(s)
        while end >= 2:
            start = max(0, end - max_len - 1)
            spans.append(s[start:end])
            end = start + 1  # the next window's last target is this window's first input
            if start == 0:
                break
    W = len(spans)
    inputs = np.zeros((W, max_len), dtype=np.int64)
    targets = np.zeros((W, max_len), dtype=np.int64)
    lengths = np.zeros(W, dtype=np.int64)
    for w, s in enumerate(spans):
        n = len(s) - 1
        inputs[w, max_len - n :] = s[:-1] + 1
        targets[w, max_len - n :] = s[1:] + 1
        lengths[w] = n
    return inputs, targets, lengths


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 32) -> list[np.ndarray]:
    """Shuffled batches of row indices; rows are sorted by length within pools of `pool` batches
    so that each batch can be trimmed to its longest row with little padding."""
    order = rng.permutation(len(lengths))
    batches = []
    chunk = batch_size * pool
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def trim(*arrays: np.ndarray, length: int) -> list[torch.Tensor]:
    """Keep the last `length` columns (left padding makes the others all-padding)."""
    return [torch.from_numpy(np.ascontiguousarray(a[:, -length:])) for a in arrays]


def sample_negatives(n_items: int, forbidden: torch.Tensor, shape, gen: torch.Generator, tries: int = 100) -> torch.Tensor:
    """Uniform shifted ids in [1, n_items] not among each row's `forbidden` ids.

    forbidden: (B, F) shifted ids (0 = none); shape: (B, ...) of the output. Rows whose draw
    collides are redrawn; after `tries` rounds a leftover collision is kept (only possible when a
    row forbids nearly the whole catalogue)."""
    neg = torch.randint(1, n_items + 1, shape, generator=gen)
    flat = neg.view(shape[0], -1)
    for _ in range(tries):
        bad = (flat[:, :, None] == forbidden[:, None, :]).any(-1)  # (B, n)
        if not bad.any():
            break
        flat[bad] = torch.randint(1, n_items + 1, (int(bad.sum()),), generator=gen)
    return neg


def histories_tensor(histories, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample histories (dense ids, oldest first) -> (S, max_len) left-padded shifted ids, lengths."""
    out = np.zeros((len(histories), max_len), dtype=np.int64)
    lengths = np.zeros(len(histories), dtype=np.int64)
    for i, h in enumerate(histories):
        h = np.asarray(h, dtype=np.int64)[-max_len:]
        if len(h):
            out[i, max_len - len(h) :] = h + 1
        lengths[i] = len(h)
    return out, lengths
