"""SASRec pretraining: every position of every training sequence is a target; early stopping on
validation NDCG@K under the shared full-ranking protocol."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch

from seller_core.data.io import write_json
from seller_core.eval import ranking
from seller_core.models.sasrec import SASRec, SASRecConfig, bpr_loss, ce_loss, load_sasrec, n_params  # noqa: F401 (load_sasrec re-exported)
from seller_core.data import stage_io
from seller_core.data import sequences
from seller_core.runtime import save_model
from seller_core.train import loop

log = logging.getLogger(__name__)

MODEL_KEYS = ("max_len", "d", "n_layers", "n_heads", "d_ff", "dropout")


def training_step(model: SASRec, optimizer, inputs, targets, lengths, cfg: dict, rng: loop.RNG):
    """-> step(batch indices) -> (loss x targets, targets): one update on a batch of training windows,
    every non-padding position a target (loop.fit's step; bench/sasrec.py times it)."""
    n_items = model.cfg.n_items

    def step(idx) -> tuple[float, int]:
        inp, tgt = sequences.trim(inputs[idx], targets[idx], length=int(lengths[idx].max()))
        h = model.encode(inp)  # (B, T, d)
        valid_pos = tgt != 0  # (B, T)
        hv, tv = h[valid_pos], tgt[valid_pos]  # (N, d), (N,)
        if cfg["loss"] == "ce":
            loss = ce_loss(model, hv, tv)
        else:
            forbidden = torch.cat([inp, tgt[:, -1:]], 1)  # the window's items
            neg = sequences.sample_negatives(n_items, forbidden, tgt.shape, rng.torch_gen)[valid_pos]
            loss = bpr_loss(model.score_items(hv, tv), model.score_items(hv, neg))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item() * len(tv), len(tv)  # the epoch's loss: the mean per target

    return step


def train_sasrec(interactions: pd.DataFrame, valid: pd.DataFrame, n_items: int, cfg: dict, eval_cfg: dict,
                 ckpt_path=None, fp: str = "", stop_after=None, checkpoint: dict | None = None) -> tuple[SASRec, list[dict]]:
    """cfg: the `sasrec` config section; eval_cfg: the `eval` section; checkpoint: {every_steps,
    every_minutes} (run control) for checkpoints inside an epoch."""
    rng = loop.RNG(cfg["seed"])  # seeds torch before the weights are initialised
    model = SASRec(SASRecConfig(n_items=n_items, **{k: cfg[k] for k in MODEL_KEYS}))
    seqs = sequences.user_sequences(interactions, "train")
    inputs, targets, lengths = sequences.windows(seqs, cfg["max_len"])
    if len(lengths) == 0:
        raise ValueError("no training sequence with at least 2 interactions")
    log.info("SASRec: %d params, %d users, %d windows, %d targets", n_params(model), len(seqs), len(lengths), int(lengths.sum()))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"], fused=True)
    metric = eval_cfg["select_metric"]

    def batches(epoch: int) -> list:
        return sequences.bucketed_batches(lengths, cfg["batch_size"], rng.np_gen)

    step = training_step(model, optimizer, inputs, targets, lengths, cfg, rng)

    def validate() -> float:
        return float(ranking.per_case(ranking.model_ranks(model, valid, n_items, eval_cfg), metric).mean())

    _, history = loop.fit(
        model, optimizer, validate, rng, batches=batches, step=step, max_epochs=cfg["max_epochs"],
        patience=cfg["patience"], ckpt_path=ckpt_path, fp=fp, stop_after=stop_after, checkpoint=checkpoint,
        name="SASRec",
    )
    model.eval()
    return model, history


def save_sasrec(model: SASRec, history: list[dict], model_path, history_path, cfg: dict) -> None:
    """model_path: config + weights (torch.save); history_path: per-epoch loss and validation score."""
    Path(model_path).parent.mkdir(parents=True, exist_ok=True)
    save_model(model, model_path, train_config=cfg)
    write_json({"config": model.cfg.to_dict(), "train_config": cfg, "history": history}, history_path)


def pretrain_sasrec(interactions_path, items_path, valid_path, model_path, history_path, ckpt_path,
                    sasrec_cfg: dict, eval_cfg: dict, threads: int = 1, run: dict | None = None):
    """Rule pretrain_sasrec: train, write the model and its history, drop the checkpoint. sasrec_cfg,
    eval_cfg: the settings that change the model (fingerprinted); run: the rule's run control
    ({"eval": .., "checkpoint": ..}), merged in for use only."""
    torch.set_num_threads(threads)
    run = run or {}
    n_items = stage_io.n_items_of(items_path)
    inter = stage_io.read_parquet(interactions_path, ["user_id", "item_id", "timestamp", "split"])
    stage_io.check_ids(inter, "item_id", n_items, interactions_path)
    valid = stage_io.read_samples(valid_path, n_items)
    fp = loop.fingerprint(sasrec_cfg, eval_cfg, Path(interactions_path), Path(valid_path), n_items)
    model, history = train_sasrec(inter, valid, n_items, sasrec_cfg, {**eval_cfg, **run.get("eval", {})}, ckpt_path, fp,
                                  checkpoint=run.get("checkpoint"))
    save_sasrec(model, history, model_path, history_path, sasrec_cfg)
    Path(ckpt_path).unlink(missing_ok=True)
