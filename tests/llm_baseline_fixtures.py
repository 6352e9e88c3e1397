"""Tiny stage files for the PEPLER and XRec tests, on top of the SEG fixtures (tiny random LLaMA,
word tokenizer, samples, GT): item names/descriptions, interactions with splits, LightGCN tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from seg_fixtures import make_dataset
from seller_core.data.io import write_parquet

LLM = {"source": "local", "device": "cpu", "dtype": "float32"}
GEN = {"batch_size": 3, "max_new_tokens": 6, "stop": ["\n"], "do_sample": False}


def make_baseline_dataset(root: Path, ds: str = "tiny") -> dict:
    """make_dataset + items with name/description, interactions.parquet (from the samples: a train
    sample's target is a train interaction, etc.) and a random LightGCN embeddings.npz."""
    paths = make_dataset(root, ds)
    data = root / "data" / ds
    items = pd.read_parquet(paths["item_table"])
    items["name"] = [f"sushi {i}" if i % 2 else f"games {i}" for i in items["item_id"]]
    items["categories_raw"] = items["categories"]
    items["description"] = [", ".join(c) for c in items["categories"]]
    write_parquet(pa.Table.from_pandas(items, preserve_index=False), data / "items.parquet")
    rows = []
    for split in ("train", "valid", "test"):
        s = pd.read_parquet(data / f"samples_{split}.parquet")
        for r in s.itertuples():
            if split == "train" and len(r.history) == 1:  # the first item of a sequence is a train interaction too
                rows.append((r.user_id, r.history[0], r.sample_id * 10 - 1, "train"))
            rows.append((r.user_id, r.item_id, r.sample_id * 10, split))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "split"])
    inter["raw_user_id"] = [f"u{u}" for u in inter["user_id"]]
    inter["raw_item_id"] = [f"i{i}" for i in inter["item_id"]]
    write_parquet(pa.Table.from_pandas(inter, preserve_index=False), data / "interactions.parquet")
    n_users = int(pd.read_parquet(data / "users.parquet")["user_id"].max()) + 1
    rng = np.random.default_rng(0)
    lg = root / "models" / ds / "lightgcn"
    lg.mkdir(parents=True, exist_ok=True)
    np.savez(lg / "embeddings.npz", user=rng.normal(size=(n_users, 8)).astype(np.float32),
             item=rng.normal(size=(len(items), 8)).astype(np.float32), config=json.dumps({"model": "test"}))
    return {**paths, "users": data / "users.parquet", "interactions": data / "interactions.parquet",
            "lightgcn": lg / "embeddings.npz", "profiles": data / "xrec" / "profiles.parquet"}


PROFILE_CFG = {"max_history_items": 5, "max_words": 20, "max_description_chars": 100, "max_tokens": 128,
               "max_requests": 1000, "max_cost_usd": 5.0, "est_output_tokens": 60}
