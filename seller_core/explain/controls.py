"""Control explanation methods, so utility can be measured before any generator exists.

- gt:     the sample's own GT explanation (an upper bound; the paper does not report it);
- random: the GT explanation of a random TRAINING sample, drawn per test sample with a seeded RNG
          (the paper's "Random: randomly sampled explanations from the training set");
- empty:  "" for every sample (isolates the adapter itself).
Each writes results/explanations/{ds}/{m}.parquet: sample_id, user_id, item_id, text (test samples).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from seller_core.data.io import write_parquet
from seller_core.errors import BadInputError
from seller_core.train import data_io
from seller_core.train.eer_train import GT_COLUMNS, gt_texts

METHODS = ("gt", "random", "empty")


def control_texts(method: str, test, gt_path, kind: str, seed: int) -> list[str]:
    if method == "gt":
        return gt_texts(gt_path, test, kind)
    if method == "empty":
        return [""] * len(test)
    if method == "random":
        col = GT_COLUMNS[kind]
        gt = data_io.read_parquet(gt_path, ["sample_id", "split", col])
        pool = gt.loc[gt["split"] == "train"].sort_values("sample_id")[col].to_numpy()
        if len(pool) == 0:
            raise BadInputError(gt_path, "no training-split GT explanations to draw random ones from", key="split")
        rng = np.random.default_rng(seed)
        return pool[rng.integers(0, len(pool), size=len(test))].tolist()
    raise ValueError(f"unknown control method {method!r}; one of {METHODS}")


def explain_control(method: str, test_path, gt_path, out_path, kind: str, seed: int) -> None:
    """Rule explain_control."""
    test = data_io.read_parquet(test_path, ["sample_id", "user_id", "item_id"])
    texts = control_texts(method, test, gt_path, kind, seed)
    write_parquet(
        pa.table({
            "sample_id": test["sample_id"].to_numpy(),
            "user_id": test["user_id"].to_numpy(),
            "item_id": test["item_id"].to_numpy(),
            "text": pa.array(texts, type=pa.string()),
        }),
        out_path,
    )
