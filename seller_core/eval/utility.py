"""Utility of explanations (paper §3.2, §3.3): the trained EER ranks each test target given the
history and a method's explanation; metrics, per-case ranks and paired comparisons."""

from __future__ import annotations

import logging

import pandas as pd
import pyarrow as pa
import torch

from seller_core.data.io import write_json, write_parquet
from seller_core.errors import BadInputError
from seller_core.eval import ranking
from seller_core.text import embed
from seller_core.train import data_io
from seller_core.train.eer_train import eer_ranks, load_eer

log = logging.getLogger(__name__)


def read_explanations(path, test: pd.DataFrame) -> list[str]:
    """A method's explanation text for every test sample (row-aligned with `test`)."""
    ex = data_io.read_parquet(path, ["sample_id", "user_id", "item_id", "text"])
    if ex["sample_id"].duplicated().any():
        raise BadInputError(path, f"duplicate sample_id {int(ex['sample_id'][ex['sample_id'].duplicated()].iloc[0])}", key="sample_id")
    if ex["text"].isna().any():
        raise BadInputError(path, f"null text for sample_id {int(ex['sample_id'][ex['text'].isna()].iloc[0])} (use '' for an empty explanation)", key="text")
    m = test[["sample_id", "user_id", "item_id"]].merge(ex, on="sample_id", how="left", suffixes=("", "_ex"))
    if m["text"].isna().any():
        raise BadInputError(path, f"no explanation for {int(m['text'].isna().sum())} test samples, e.g. sample_id {int(m['sample_id'][m['text'].isna()].iloc[0])}", key="sample_id")
    wrong = (m["user_id"] != m["user_id_ex"]) | (m["item_id"] != m["item_id_ex"])
    if wrong.any():
        raise BadInputError(path, f"user_id/item_id disagree with the test samples, e.g. sample_id {int(m['sample_id'][wrong].iloc[0])}")
    extra = len(ex) - len(m)
    if extra:
        log.warning("%s: %d rows for samples outside the test set are ignored", path, extra)
    return m["text"].tolist()


def score_utility(eer_path, items_path, test_path, explanations_path, out_json, out_ranks, method: str,
                  embed_cfg: dict, eval_cfg: dict, threads: int = 1) -> None:
    """Rule score_utility: the EER's full-ranking metrics on the test samples given method's explanations."""
    torch.set_num_threads(threads)
    n_items = data_io.n_items_of(items_path)
    test = data_io.read_samples(test_path, n_items)
    eer, meta = load_eer(eer_path)
    if meta["encoder"] != embed_cfg["model"]:
        raise ValueError(f"EER {eer_path} was trained with encoder {meta['encoder']!r}, config says {embed_cfg['model']!r}")
    texts = read_explanations(explanations_path, test)
    encoder = embed.load_encoder(embed_cfg["model"], embed_cfg["device"])
    emb = embed.embed_texts(encoder, texts, embed_cfg["batch_size"])
    ranks = eer_ranks(eer, test, emb, n_items, eval_cfg)
    b = eval_cfg["bootstrap"]
    summary = ranking.summarize(ranks, eval_cfg["ks"], b["n"], b["seed"], b["alpha"])
    write_json(
        {"method": method, "eer_kind": meta["gt_kind"], "encoder": meta["encoder"], "n_items": n_items,
         "protocol": {"full_ranking": True, "ties": "pessimistic", "mask_history": eval_cfg["mask_history"]},
         "n_empty_texts": int(sum(t == "" for t in texts)), **summary},
        out_json,
    )
    write_parquet(pa.table({"sample_id": test["sample_id"].to_numpy(), "rank": ranks}), out_ranks)
    log.info("%s: %s", method, summary["metrics"])


def compare_utility(ranks_a, ranks_b, out_json, a: str, b: str, eval_cfg: dict) -> None:
    """Rule compare_utility: paired bootstrap of method a minus method b, case by case."""
    ra = data_io.read_parquet(ranks_a, ["sample_id", "rank"])
    rb = data_io.read_parquet(ranks_b, ["sample_id", "rank"])
    m = ra.merge(rb, on="sample_id", suffixes=("_a", "_b"), how="inner")
    if len(m) != len(ra) or len(m) != len(rb):
        raise BadInputError(ranks_b, f"cases differ from {ranks_a}: {len(ra)} vs {len(rb)} rows, {len(m)} shared")
    bs = eval_cfg["bootstrap"]
    write_json(
        {"a": a, "b": b, "n_cases": len(m),
         "a_metrics": ranking.metrics_from_ranks(m["rank_a"].to_numpy(), eval_cfg["ks"]),
         "b_metrics": ranking.metrics_from_ranks(m["rank_b"].to_numpy(), eval_cfg["ks"]),
         "a_minus_b": ranking.compare(m["rank_a"].to_numpy(), m["rank_b"].to_numpy(), eval_cfg["ks"], bs["n"], bs["seed"], bs["alpha"])},
        out_json,
    )
