"""Control explanation methods, so utility can be measured before any generator exists.

- gt:     the sample's own GT explanation (an upper bound; the paper does not report it);
- random: the GT explanation of a random TRAINING sample, drawn per test sample with a seeded RNG
          (the paper's "Random: randomly sampled explanations from the training set");
- empty:  "" for every sample (isolates the adapter itself).
Each writes results/explanations/{ds}/{m}.parquet: sample_id, user_id, item_id, text (test samples).
"""

from __future__ import annotations

import numpy as np

from seller_core.errors import BadInputError
from seller_core.explain.interface import write_explanations
from seller_core.data import stage_io

METHODS = ("gt", "random", "empty")


def control_texts(method: str, test, gt_path, kind: str, seed: int) -> list[str]:
    if method == "gt":
        return stage_io.gt_texts(gt_path, test, kind)
    if method == "empty":
        return [""] * len(test)
    if method == "random":
        col = stage_io.GT_COLUMNS[kind]
        gt = stage_io.read_parquet(gt_path, ["sample_id", "split", col])
        pool = gt.loc[gt["split"] == "train"].sort_values("sample_id")[col].to_numpy()
        if len(pool) == 0:
            raise BadInputError(gt_path, "no training-split GT explanations to draw random ones from", key="split")
        rng = np.random.default_rng(seed)
        return pool[rng.integers(0, len(pool), size=len(test))].tolist()
    raise ValueError(f"unknown control method {method!r}; one of {METHODS}")


def explain_control(method: str, test_path, gt_path, out_path, kind: str, seed: int, data_source: str,
                    name: str | None = None) -> None:
    """Rule explain_control: `method` is gt | random | empty, drawn from GT kind `kind`; `name` is the
    method's name in the pipeline (e.g. random_category), recorded in the provenance."""
    test = stage_io.read_parquet(test_path, ["sample_id", "user_id", "item_id"])
    texts = control_texts(method, test, gt_path, kind, seed)
    models = sorted(set(stage_io.read_parquet(gt_path, ["model"])["model"]))
    provenance = {
        "method": name or method, "seed": seed, "gt_kind": kind, "data_source": data_source,
        "gt_backend": stage_io.gt_backend_of(gt_path), "models": {"gt": ",".join(models)},
    }
    write_explanations(out_path, test, texts, provenance)
