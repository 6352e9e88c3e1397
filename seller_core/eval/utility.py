"""Utility of explanations (paper §3.2, §3.3): the trained EER ranks each test target given the
history and a method's explanation; metrics and per-case ranks (the paired
comparisons of those ranks are seller_core.eval.stats.compare_utility, which needs no torch).

Every metrics file says where its numbers came from (`provenance`): the method's own record (models,
seed), the GT backend the EER and the method were trained on, whether the data are synthetic or real,
and the sentence encoder — so no table built from it can pass stand-in results off as the paper's."""

from __future__ import annotations

import logging

import pyarrow as pa
import torch

from seller_core.data import stage_io
from seller_core.data.io import write_json, write_parquet
from seller_core.errors import BadInputError
from seller_core.eval import ranking
from seller_core.explain.interface import read_explanations, read_provenance
from seller_core.models.eer import load_eer
from seller_core.text import embed

log = logging.getLogger(__name__)


def score_utility(eer_path, items_path, test_path, gt_path, explanations_path, out_json, out_ranks, method: str,
                  kind: str, embed_cfg: dict, eval_cfg: dict, data_source: str, threads: int = 1) -> None:
    """Rule score_utility: the `kind` EER's full-ranking metrics on the test samples given method's explanations."""
    torch.set_num_threads(threads)
    n_items = stage_io.n_items_of(items_path)
    test = stage_io.read_samples(test_path, n_items)
    eer, meta = load_eer(eer_path)
    if meta["gt_kind"] != kind:
        raise BadInputError(eer_path, f"this EER was trained on GT kind {meta['gt_kind']!r}, not {kind!r}", key="gt_kind")
    if meta["encoder"] != embed_cfg["model"]:
        raise BadInputError(eer_path, f"EER trained with encoder {meta['encoder']!r}, config embed.model is "
                                      f"{embed_cfg['model']!r}", key="encoder")
    texts = read_explanations(explanations_path, test)
    encoder = embed.load_encoder(embed_cfg["model"], embed_cfg["device"])
    emb = embed.embed_texts(encoder, texts, embed_cfg["batch_size"])
    ranks = ranking.model_ranks(eer, test, n_items, eval_cfg, cond=emb)
    b = eval_cfg["bootstrap"]
    summary = ranking.summarize(ranks, eval_cfg["ks"], b["n"], b["seed"], b["alpha"])
    provenance = {
        "method": read_provenance(explanations_path),
        "eer": {"gt_kind": kind, "encoder": meta["encoder"], "seed": meta["train_config"]["seed"]},
        "gt_backend": stage_io.gt_backend_of(gt_path),
        "data_source": data_source,
        "encoder": embed_cfg["model"],
    }
    write_json(
        {"method": method, "eer_kind": kind, "encoder": meta["encoder"], "n_items": n_items,
         "protocol": {"full_ranking": True, "ties": "pessimistic", "mask_history": eval_cfg["mask_history"]},
         "n_empty_texts": int(sum(t == "" for t in texts)), "provenance": provenance, **summary},
        out_json,
    )
    write_parquet(pa.table({"sample_id": test["sample_id"].to_numpy(), "rank": ranks}), out_ranks)
    log.info("%s (EER %s): %s", method, kind, summary["metrics"])

