"""The explanation-method interface: every method (gt, random, empty, seller, the baselines, the
ablations) writes `results/explanations/{ds}/{m}.parquet` through `write_explanations`, and every
scorer reads it back through `read_explanations`. One writer means one set of checks: exactly one
row per test sample, ids that match the test set, non-null text, and a provenance record (method,
models, GT backend, seed, ...) stored in the file's metadata, so a table built from it can say
where its numbers came from.

Columns (public): sample_id, user_id, item_id, text. Metadata key `seller.provenance`: JSON.
"""

from __future__ import annotations

import json
import logging

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from seller_core.data.io import write_parquet
from seller_core.errors import BadInputError
from seller_core.data.stage_io import read_parquet

log = logging.getLogger(__name__)

PROVENANCE_KEY = b"seller.provenance"
REQUIRED_PROVENANCE = ("method", "seed", "gt_backend", "data_source")
COLUMNS = ["sample_id", "user_id", "item_id", "text"]


def write_explanations(out_path, test: pd.DataFrame, texts, provenance: dict) -> None:
    """texts: one string per row of `test` (the test samples, in their order). provenance must name at
    least the method, seed, GT backend and data source (synthetic|real); any models used go in too."""
    texts = list(texts)
    if len(texts) != len(test):
        raise ValueError(f"{out_path}: {len(texts)} explanations for {len(test)} test samples")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"{out_path}: explanation {bad[0]} (sample_id {int(test['sample_id'].iloc[bad[0]])}) is "
                         f"{type(texts[bad[0]]).__name__}, not str (use '' for an empty explanation)")
    if test["sample_id"].duplicated().any():
        raise ValueError(f"{out_path}: duplicate sample_id in the test samples")
    missing = [k for k in REQUIRED_PROVENANCE if k not in provenance]
    if missing:
        raise ValueError(f"{out_path}: provenance lacks {missing}")
    table = pa.table({
        "sample_id": pa.array(test["sample_id"].to_numpy(), type=pa.int64()),
        "user_id": pa.array(test["user_id"].to_numpy(), type=pa.int64()),
        "item_id": pa.array(test["item_id"].to_numpy(), type=pa.int64()),
        "text": pa.array(texts, type=pa.string()),
    })
    meta = {PROVENANCE_KEY: json.dumps(provenance, sort_keys=True, ensure_ascii=False).encode()}
    write_parquet(table, out_path, metadata=meta)


def read_provenance(path) -> dict:
    meta = pq.read_schema(path).metadata or {}
    if PROVENANCE_KEY not in meta:
        raise BadInputError(path, "no provenance metadata: write explanations with "
                                  "seller_core.explain.interface.write_explanations", key="seller.provenance")
    return json.loads(meta[PROVENANCE_KEY])


def read_explanations(path, test: pd.DataFrame) -> list[str]:
    """A method's explanation text for every test sample (row-aligned with `test`): exactly one row per
    test sample, with matching user and item ids and non-null text."""
    ex = read_parquet(path, COLUMNS)
    dup = ex["sample_id"].duplicated()
    if dup.any():
        raise BadInputError(path, f"duplicate sample_id {int(ex['sample_id'][dup].iloc[0])}", key="sample_id")
    if ex["text"].isna().any():
        raise BadInputError(path, f"null text for sample_id {int(ex['sample_id'][ex['text'].isna()].iloc[0])} "
                                  "(use '' for an empty explanation)", key="text")
    m = test[["sample_id", "user_id", "item_id"]].merge(ex, on="sample_id", how="left", suffixes=("", "_ex"))
    if m["text"].isna().any():
        raise BadInputError(path, f"no explanation for {int(m['text'].isna().sum())} test samples, e.g. sample_id "
                                  f"{int(m['sample_id'][m['text'].isna()].iloc[0])}", key="sample_id")
    wrong = (m["user_id"] != m["user_id_ex"]) | (m["item_id"] != m["item_id_ex"])
    if wrong.any():
        raise BadInputError(path, "user_id/item_id disagree with the test samples, e.g. sample_id "
                                  f"{int(m['sample_id'][wrong].iloc[0])}")
    if len(ex) != len(m):
        raise BadInputError(path, f"{len(ex) - len(m)} rows for samples outside the test set", key="sample_id")
    return m["text"].tolist()
