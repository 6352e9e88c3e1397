"""SASRec alone (no explanation) against a most-popular baseline, on the same test cases and the
same full-ranking protocol: the sanity check that the pretrained backbone learned something."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch

from seller_core.data.io import write_json, write_parquet
from seller_core.eval import ranking
from seller_core.data import stage_io
from seller_core.models.sasrec import load_sasrec


def popularity_scores(interactions, n_items: int, split: str = "train") -> np.ndarray:
    """Training-interaction count per item (dense ids)."""
    items = interactions.loc[interactions["split"] == split, "item_id"].to_numpy()
    return np.bincount(items, minlength=n_items).astype(np.float32)


def train_seed(model_path) -> int:
    return int(torch.load(model_path, weights_only=False)["train_config"]["seed"])


def popularity_ranks(pop: np.ndarray, samples, eval_cfg: dict) -> np.ndarray:
    scores = torch.from_numpy(pop)

    def score(sl):
        return scores.expand(sl.stop - sl.start, -1)

    return ranking.rank_cases(
        score, samples["item_id"].to_numpy(), len(pop), samples["history"].tolist(),
        eval_cfg["mask_history"], eval_cfg["batch_size"],
    )


def evaluate_sasrec(model_path, interactions_path, items_path, test_path, out_json, out_ranks, eval_cfg: dict,
                    data_source: str, threads: int = 1):
    """Rule eval_sasrec: metrics of SASRec and most-popular on the test samples, with CIs and the
    paired difference (sasrec - popular)."""
    torch.set_num_threads(threads)
    n_items = stage_io.n_items_of(items_path)
    inter = stage_io.read_parquet(interactions_path, ["item_id", "split"])
    test = stage_io.read_samples(test_path, n_items)
    model = load_sasrec(model_path)
    r_sas = ranking.model_ranks(model, test, n_items, eval_cfg)
    r_pop = popularity_ranks(popularity_scores(inter, n_items), test, eval_cfg)
    b = eval_cfg["bootstrap"]
    args = (eval_cfg["ks"], b["n"], b["seed"], b["alpha"])
    write_json(
        {
            "protocol": {"full_ranking": True, "ties": "pessimistic", "mask_history": eval_cfg["mask_history"], "n_items": n_items},
            # no GT and no encoder are involved in this file's numbers
            "provenance": {"data_source": data_source, "seed": train_seed(model_path), "gt_backend": None, "encoder": None},
            "sasrec": ranking.summarize(r_sas, *args),
            "most_popular": ranking.summarize(r_pop, *args),
            "sasrec_minus_most_popular": ranking.compare(r_sas, r_pop, *args),
        },
        out_json,
    )
    write_parquet(
        pa.table({"sample_id": test["sample_id"].to_numpy(), "sasrec": r_sas, "most_popular": r_pop}), out_ranks
    )
