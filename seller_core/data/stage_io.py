"""Reading the stage inputs the recommenders need, with errors that name the file and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seller_core.errors import BadInputError

# GT kind -> column of gt/explanations.parquet
GT_COLUMNS = {"category": "category_text", "intent": "intent_text", "both": "both_text"}


def read_parquet(path, columns: list[str]) -> pd.DataFrame:
    """The named columns of a parquet file; a missing file or column is a BadInputError."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(path, "file does not exist")
    have = set(pq.read_schema(path).names)
    missing = [c for c in columns if c not in have]
    if missing:
        raise BadInputError(path, f"missing column(s) {missing}; has {sorted(have)}", key=missing[0])
    return pq.read_table(path, columns=columns).to_pandas()


def check_ids(df: pd.DataFrame, column: str, n: int, path) -> None:
    """Dense ids must lie in [0, n)."""
    if len(df) and (df[column].min() < 0 or df[column].max() >= n):
        bad = df.index[(df[column] < 0) | (df[column] >= n)][0]
        raise BadInputError(path, f"{column} {df[column][bad]} outside [0, {n}) (row {bad})", key=column)


def read_samples(path, n_items: int) -> pd.DataFrame:
    """samples_{split}.parquet with non-empty histories of valid ids."""
    df = read_parquet(path, ["sample_id", "user_id", "item_id", "history"])
    check_ids(df, "item_id", n_items, path)
    lengths = df["history"].map(len)
    if (lengths == 0).any():
        raise BadInputError(path, f"empty history in row {int(lengths.idxmin())}", key="history")
    flat = pc.list_flatten(pq.read_table(path, columns=["history"])["history"])
    lo_hi = pc.min_max(flat)
    if len(flat) and (lo_hi["min"].as_py() < 0 or lo_hi["max"].as_py() >= n_items):
        raise BadInputError(path, f"history holds item ids outside [0, {n_items})", key="history")
    return df


def n_items_of(items_path) -> int:
    items = read_parquet(items_path, ["item_id"])
    n = len(items)
    if n == 0 or items["item_id"].min() != 0 or items["item_id"].max() != n - 1 or items["item_id"].nunique() != n:
        raise BadInputError(items_path, "item_id must be dense 0..n-1", key="item_id")
    return n


def gt_texts(gt_path, samples: pd.DataFrame, kind: str) -> list[str]:
    """The GT explanation text of each sample (row-aligned), for GT kind category/intent/both."""
    if kind not in GT_COLUMNS:
        raise ValueError(f"unknown GT kind {kind!r}; one of {sorted(GT_COLUMNS)}")
    col = GT_COLUMNS[kind]
    gt = read_parquet(gt_path, ["sample_id", col])
    if gt["sample_id"].duplicated().any():
        raise BadInputError(gt_path, f"duplicate sample_id {int(gt['sample_id'][gt['sample_id'].duplicated()].iloc[0])}", key="sample_id")
    texts = samples[["sample_id"]].merge(gt, on="sample_id", how="left")[col]
    if texts.isna().any():
        sid = int(samples["sample_id"][texts.isna().to_numpy()].iloc[0])
        raise BadInputError(gt_path, f"no {col} for sample_id {sid} ({int(texts.isna().sum())} samples lack one)", key=col)
    return texts.tolist()


def gt_backend_of(gt_path) -> str:
    """The one backend (offline | anthropic) that wrote a gt/explanations.parquet."""
    backends = sorted(set(read_parquet(gt_path, ["backend"])["backend"]))
    if len(backends) != 1:
        raise BadInputError(gt_path, f"expected one GT backend, found {backends}", key="backend")
    return backends[0]


def subsample(df: pd.DataFrame, n, seed: int) -> pd.DataFrame:
    """A seeded subset of n rows (file order kept); n = 'all' or >= len keeps everything. Every
    trained generator draws its training subset with this, so the same n and seed give them the
    same samples."""
    if n == "all" or n is None or int(n) >= len(df):
        return df
    import numpy as np

    keep = np.sort(np.random.default_rng(seed).choice(len(df), size=int(n), replace=False))
    return df.iloc[keep].reset_index(drop=True)
