"""EER training on GT explanations (paper §3.2.3, Eq. 15); model selection on validation with GT."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seller_core.data.io import write_json
from seller_core.errors import BadInputError
from seller_core.eval import ranking
from seller_core.models.eer import EER, EERConfig
from seller_core.models.sasrec import SASRec, bpr_loss, load_sasrec, n_params
from seller_core.text import embed
from seller_core.data import stage_io
from seller_core.data import sequences
from seller_core.runtime import save_atomic
from seller_core.train import loop

log = logging.getLogger(__name__)

def train_eer(sasrec: SASRec, train: pd.DataFrame, e_train: np.ndarray, valid: pd.DataFrame, e_valid: np.ndarray,
              cfg: dict, eval_cfg: dict, ckpt_path=None, fp: str = "", stop_after=None,
              checkpoint: dict | None = None) -> tuple[EER, list[dict]]:
    """cfg: the `eer` config section. e_*: (S, e_dim) explanation embeddings row-aligned with the samples.
    checkpoint: {every_steps, every_minutes} (run control) for checkpoints inside an epoch."""
    rng = loop.RNG(cfg["seed"])
    eer = EER(sasrec, EERConfig(e_dim=int(e_train.shape[1]), hidden=cfg["hyper_hidden"], targets=list(cfg["targets"]), bias=cfg["bias"]))
    if not cfg["train_backbone"]:
        eer.sasrec.requires_grad_(False)
    n_items = sasrec.cfg.n_items
    hist, lengths = sequences.histories_tensor(train["history"].tolist(), sasrec.cfg.max_len)
    targets = train["item_id"].to_numpy(dtype=np.int64) + 1  # shifted
    e_all = torch.from_numpy(np.ascontiguousarray(e_train, dtype=np.float32))
    params = [p for p in eer.parameters() if p.requires_grad]
    log.info("EER: %d params (%d trainable), %d training samples, e_dim %d", n_params(eer), sum(p.numel() for p in params), len(train), e_train.shape[1])
    optimizer = torch.optim.Adam(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"], fused=True)
    metric = eval_cfg["select_metric"]

    def batches(epoch: int) -> list:
        return sequences.bucketed_batches(lengths, cfg["batch_size"], rng.np_gen)

    def step(idx) -> tuple[float, int]:
        (seq,) = sequences.trim(hist[idx], length=int(lengths[idx].max()))
        pos = torch.from_numpy(targets[idx])
        neg = sequences.sample_negatives(n_items, torch.cat([seq, pos[:, None]], 1), pos.shape, rng.torch_gen)
        h = eer.user_vector(seq, e_all[idx])  # (B, d)
        loss = bpr_loss(eer.score_items(h, pos), eer.score_items(h, neg))  # Eq. 15
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item() * len(idx), len(idx)

    def validate() -> float:
        return float(ranking.per_case(ranking.model_ranks(eer, valid, n_items, eval_cfg, cond=e_valid), metric).mean())

    _, history = loop.fit(
        eer, optimizer, validate, rng, max_epochs=cfg["max_epochs"], patience=cfg["patience"],
        ckpt_path=ckpt_path, fp=fp, stop_after=stop_after, batches=batches, step=step,
        checkpoint=checkpoint, name="EER",
    )
    eer.eval()
    return eer, history


def save_eer(eer: EER, history, model_path, history_path, cfg: dict, encoder: str, kind: str) -> None:
    Path(model_path).parent.mkdir(parents=True, exist_ok=True)
    meta = {"sasrec_config": eer.sasrec.cfg.to_dict(), "eer_config": eer.cfg.to_dict(), "train_config": cfg, "encoder": encoder, "gt_kind": kind}
    save_atomic({**meta, "state_dict": eer.state_dict()}, model_path)
    write_json({**meta, "history": history}, history_path)


def train_eer_rule(sasrec_path, items_path, train_path, valid_path, gt_path, model_path, history_path, ckpt_path, kind: str,
                   eer_cfg: dict, embed_cfg: dict, eval_cfg: dict, threads: int = 1, run: dict | None = None) -> None:
    """Rule train_eer: one EER per dataset and GT kind. eer_cfg, embed_cfg, eval_cfg: the settings that
    change the model (fingerprinted); run: the rule's run control ({"embed": .., "eval": .., "checkpoint":
    ..}), merged in for use only, so a run resumed with another batch size still finds its checkpoint."""
    torch.set_num_threads(threads)
    run = run or {}
    fp_cfg = (eer_cfg, embed_cfg, eval_cfg)
    embed_cfg, eval_cfg = {**embed_cfg, **run.get("embed", {})}, {**eval_cfg, **run.get("eval", {})}
    n_items = stage_io.n_items_of(items_path)
    train = stage_io.read_samples(train_path, n_items)
    valid = stage_io.read_samples(valid_path, n_items)
    encoder = embed.load_encoder(embed_cfg["model"], embed_cfg["device"])
    e_train = embed.embed_texts(encoder, stage_io.gt_texts(gt_path, train, kind), embed_cfg["batch_size"])
    e_valid = embed.embed_texts(encoder, stage_io.gt_texts(gt_path, valid, kind), embed_cfg["batch_size"])
    sasrec = load_sasrec(sasrec_path)
    if sasrec.cfg.n_items != n_items:
        raise BadInputError(sasrec_path, f"SASRec has {sasrec.cfg.n_items} items, {items_path} has {n_items}")
    fp = loop.fingerprint(*fp_cfg, kind, Path(sasrec_path), Path(train_path), Path(valid_path), Path(gt_path))
    eer, history = train_eer(sasrec, train, e_train, valid, e_valid, eer_cfg, eval_cfg, ckpt_path, fp,
                             checkpoint=run.get("checkpoint"))
    save_eer(eer, history, model_path, history_path, eer_cfg, embed_cfg["model"], kind)
    Path(ckpt_path).unlink(missing_ok=True)
