"""A small synthetic dataset in the stage-file formats, with structure a sequential model can learn.

Items are laid out on a grid: item = cat + N_CATS * slot. Each user walks the slots in order
(slot -> slot + 1) and picks a uniformly random category at every step. So the history fixes
the next slot (a sequential model narrows the target to N_CATS items, a popularity model cannot),
and the target's category (its GT explanation) fixes the rest: GT explanations carry
information the history lacks, random and empty ones do not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CATS = ["pizza", "sushi", "burgers", "coffee", "cocktail bars", "bakery"]
N_CATS = len(CATS)


def make_data(n_users=150, n_slots=10, length=(10, 18), seed=0):
    rng = np.random.default_rng(seed)
    n_items = N_CATS * n_slots
    rows = []
    for u in range(n_users):
        n = int(rng.integers(length[0], length[1] + 1))
        slot = int(rng.integers(n_slots))
        for t in range(n):
            cat = int(rng.integers(N_CATS))
            rows.append((u, cat + N_CATS * slot, 1000 * u + t))
            slot = (slot + 1) % n_slots
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    # per-user leave-one-out style split: last -> test, second last -> valid
    pos_from_end = inter.groupby("user_id").cumcount(ascending=False)
    inter["split"] = np.where(pos_from_end == 0, "test", np.where(pos_from_end == 1, "valid", "train"))
    items = pd.DataFrame({
        "item_id": np.arange(n_items),
        "raw_item_id": [f"i{i}" for i in range(n_items)],
        "name": [f"item {i}" for i in range(n_items)],
        "categories": [[CATS[i % N_CATS]] for i in range(n_items)],
        "description": [f"A place for {CATS[i % N_CATS]}, number {i // N_CATS}." for i in range(n_items)],
    })
    samples = {}
    sid = 0
    recs = {s: [] for s in ("train", "valid", "test")}
    for u, g in inter.groupby("user_id", sort=True):
        its, ts, sp = g["item_id"].tolist(), g["timestamp"].tolist(), g["split"].tolist()
        for t in range(1, len(its)):
            recs[sp[t]].append((sid + t, u, its[t], its[max(0, t - 50):t], ts[t], sp[t]))
        sid += len(its)
    for s, r in recs.items():
        samples[s] = pd.DataFrame(r, columns=["sample_id", "user_id", "item_id", "history", "timestamp", "split"])
    return inter, items, samples


def gt_frame(samples: dict) -> pd.DataFrame:
    rows = []
    for s, df in samples.items():
        for r in df.itertuples():
            c = CATS[r.item_id % N_CATS]
            rows.append((r.sample_id, s, r.user_id, r.item_id, [c], c, f"somewhere serving great {c}", f"{c}; somewhere serving great {c}", "fixture", "none", "v0"))
    return pd.DataFrame(rows, columns=["sample_id", "split", "user_id", "item_id", "categories", "category_text",
                                       "intent_text", "both_text", "backend", "model", "prompt_version"])


def write_dataset(root: Path, seed=0, **kw) -> dict:
    """Writes items, interactions, samples_{train,valid,test} and gt/explanations parquet under root."""
    inter, items, samples = make_data(seed=seed, **kw)
    root.mkdir(parents=True, exist_ok=True)
    (root / "gt").mkdir(exist_ok=True)
    paths = {"items": root / "items.parquet", "interactions": root / "interactions.parquet", "gt": root / "gt" / "explanations.parquet"}
    pq.write_table(pa.Table.from_pandas(items, preserve_index=False), paths["items"])
    pq.write_table(pa.Table.from_pandas(inter, preserve_index=False), paths["interactions"])
    for s, df in samples.items():
        paths[s] = root / f"samples_{s}.parquet"
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), paths[s])
    pq.write_table(pa.Table.from_pandas(gt_frame(samples), preserve_index=False), paths["gt"])
    return paths
