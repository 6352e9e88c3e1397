"""Tiny stage files (items + samples) and a gt config for the ground-truth tests."""

from __future__ import annotations

import copy
from pathlib import Path

import pyarrow as pa

from seller_core.data.io import write_parquet

# item_id -> categories (item order matters; item 3 repeats one and has more than 3)
ITEM_CATEGORIES = [
    ["Restaurants", "Mexican"],
    ["Bars", "Nightlife"],
    ["Coffee & Tea"],
    ["Restaurants", "Bars", "Restaurants", "Pizza", "Italian"],
    ['Secondary Creation "Music"'],
    ["Nightlife", "Mexican", "Pizza"],
]
CATEGORIES = sorted({c for cats in ITEM_CATEGORIES for c in cats})  # 8 categories

GT_CFG = {
    "backend": "offline", "model": "claude-test", "temperature": None, "max_tokens": 512, "n_queries": 3,
    "seed": 0, "cache_path": None, "concurrency": 2, "max_retries": 3, "timeout_s": 10, "max_repairs": 2,
    "max_requests": 1000, "max_cost_usd": 5.0, "price_per_mtok": {"input": 3.0, "output": 15.0},
    "est_output_tokens": 300, "base_url": None,
}


def gt_cfg(tmp_path, **over) -> dict:
    cfg = copy.deepcopy(GT_CFG)
    cfg["cache_path"] = str(Path(tmp_path) / "resources" / "gt_cache" / "claude.sqlite")
    cfg.update(over)
    return cfg


def write_stage_files(root, item_categories=ITEM_CATEGORIES) -> dict:
    """results/data/fx/{items,samples_*}.parquet in the filter_and_split contract."""
    d = Path(root) / "results" / "data" / "fx"
    n = len(item_categories)
    write_parquet(pa.table({
        "item_id": pa.array(range(n), pa.int64()),
        "raw_item_id": [f"raw{i}" for i in range(n)],
        "name": [f"Item {i}" for i in range(n)],
        "categories": pa.array(item_categories, pa.list_(pa.string())),
        "description": [f"item {i}" for i in range(n)],
    }), d / "items.parquet")
    paths = {"items": d / "items.parquet", "samples": []}
    sid = 0
    for split, count in (("train", 30), ("valid", 6), ("test", 6)):
        rows = {"sample_id": [], "user_id": [], "item_id": [], "history": [], "timestamp": [], "split": []}
        for k in range(count):
            rows["sample_id"].append(sid)
            rows["user_id"].append(k % 7)
            rows["item_id"].append((sid * 5 + 1) % n)
            rows["history"].append([(sid + j) % n for j in range(1, 4)])
            rows["timestamp"].append(1_600_000_000 + sid)
            rows["split"].append(split)
            sid += 1
        t = pa.table(rows, schema=pa.schema([
            ("sample_id", pa.int64()), ("user_id", pa.int64()), ("item_id", pa.int64()),
            ("history", pa.list_(pa.int64())), ("timestamp", pa.int64()), ("split", pa.string())]))
        p = d / f"samples_{split}.parquet"
        write_parquet(t, p)
        paths["samples"].append(p)
    return paths
