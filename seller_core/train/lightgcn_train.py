"""Training LightGCN (seller_core/models/lightgcn.py) on the training interactions, for XRec's
collaborative user/item embeddings.

- Graph and BPR positives: interactions with split == "train" only (valid/test never leak in).
- Negatives: one uniform item per positive that the user has not interacted with in training.
- Model selection: Recall@K on the validation interactions (split == "valid"), ranking all items
  with the user's training items excluded and ties counted against the target (the shared
  ranking convention), early stopping with `patience` (XRec: Recall@20, patience 10).
- Seeded (weights, shuffling, negatives) and resumable from a per-epoch checkpoint (train/loop.py).

Output: an .npz with `user` (U, d) and `item` (I, d) float32 tables of the propagated (layer-mean)
embeddings, rows indexed by dense ids, plus `config` (JSON) describing how they were made.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seller_core.data import stage_io
from seller_core.data.io import write_json
from seller_core.eval.ranking import ranks_from_scores
from seller_core.models.lightgcn import LightGCN, LightGCNConfig, normalized_adjacency
from seller_core.train import loop
from seller_core.runtime import resolve_device
from seller_core.train.baseline_io import n_users_of

log = logging.getLogger(__name__)

MODEL_KEYS = ("d", "n_layers")


def _pairs(inter: pd.DataFrame, split: str) -> tuple[np.ndarray, np.ndarray]:
    df = inter.loc[inter["split"] == split, ["user_id", "item_id"]].drop_duplicates()
    return df["user_id"].to_numpy(np.int64), df["item_id"].to_numpy(np.int64)


def sample_negatives(users: np.ndarray, seen_keys: np.ndarray, n_items: int, rng: np.random.Generator, tries: int = 100):
    """One uniform item per user id, not among that user's training items.
    seen_keys: sorted user * n_items + item keys of the training pairs."""
    neg = rng.integers(0, n_items, size=len(users))
    for _ in range(tries):
        bad = np.isin(users * n_items + neg, seen_keys, assume_unique=False)
        if not bad.any():
            break
        neg[bad] = rng.integers(0, n_items, size=int(bad.sum()))
    return neg


def recall_at_k(model: LightGCN, valid_u, valid_i, train_u, train_i, k: int) -> float:
    """Mean hit@k over validation interactions (full ranking, training items excluded)."""
    if len(valid_u) == 0:
        return 0.0
    dev = model.emb.weight.device

    def t(a):
        return torch.tensor(np.asarray(a), dtype=torch.long, device=dev)

    with torch.no_grad():
        u_all, i_all = model.propagate()
        users, inv = np.unique(valid_u, return_inverse=True)
        scores = u_all[t(users)] @ i_all.T  # (Uv, I)
        row = {int(u): r for r, u in enumerate(users)}
        exclude = torch.zeros_like(scores, dtype=torch.bool)
        keep = np.isin(train_u, users)
        exclude[t([row[int(u)] for u in train_u[keep]]), t(train_i[keep])] = True
        ranks = ranks_from_scores(scores[t(inv)], t(valid_i), exclude[t(inv)])
    return float((ranks <= k).float().mean())


def train_lightgcn(interactions: pd.DataFrame, n_users: int, n_items: int, cfg: dict, ckpt_path=None, fp: str = "",
                   stop_after: int | None = None, device: str = "cpu",
                   checkpoint: dict | None = None) -> tuple[LightGCN, list[dict]]:
    """cfg: the `lightgcn` config section. interactions: user_id, item_id, split (dense ids).
    Negatives and shuffling are drawn on the CPU, so a seed gives the same batches on any device."""
    missing = {"user_id", "item_id", "split"} - set(interactions.columns)
    if missing:
        raise ValueError(f"LightGCN interactions lack columns {sorted(missing)}")
    tu, ti = _pairs(interactions, "train")
    if len(tu) == 0:
        raise ValueError("LightGCN: no training interactions (split == 'train')")
    vu, vi = _pairs(interactions, "valid")
    rng = loop.RNG(cfg["seed"])  # seeds torch before the weights are initialised
    model = LightGCN(LightGCNConfig(n_users=n_users, n_items=n_items, **{k: cfg[k] for k in MODEL_KEYS}),
                     normalized_adjacency(tu, ti, n_users, n_items)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    seen = np.sort(tu * n_items + ti)
    bs = cfg["batch_size"]
    log.info("LightGCN: %d users, %d items, %d train edges, %d valid interactions, %d batches/epoch",
             n_users, n_items, len(tu), len(vu), -(-len(tu) // bs))

    def batches(epoch: int) -> list:
        order = rng.np_gen.permutation(len(tu))
        return [order[s : s + bs] for s in range(0, len(order), bs)]

    def step(idx) -> tuple[float, int]:
        # the negatives come from the same stream after the epoch's order, batch by batch
        neg = sample_negatives(tu[idx], seen, n_items, rng.np_gen)
        u, p, n = (torch.from_numpy(a).to(device) for a in (tu[idx], ti[idx], neg))
        loss, _ = model.bpr_loss(u, p, n, cfg["reg"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item() * len(idx), len(idx)

    def validate() -> float:
        return recall_at_k(model, vu, vi, tu, ti, cfg["k"])

    _, history = loop.fit(model, optimizer, validate, rng, batches=batches, step=step, max_epochs=cfg["max_epochs"],
                          patience=cfg["patience"], ckpt_path=ckpt_path, fp=fp, stop_after=stop_after,
                          checkpoint=checkpoint, name="LightGCN")
    model.eval()
    return model, history


def embeddings(model: LightGCN) -> tuple[np.ndarray, np.ndarray]:
    """The propagated (user (U, d), item (I, d)) tables as float32 arrays."""
    with torch.no_grad():
        u, i = model.propagate()
    return u.cpu().numpy().astype(np.float32), i.cpu().numpy().astype(np.float32)


def save_embeddings(model: LightGCN, path, history: list[dict], cfg: dict) -> None:
    u, i = embeddings(model)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": model.cfg.to_dict(), "train_config": cfg, "history": history}
    with open(path, "wb") as f:  # a file object: np.savez would otherwise append ".npz" to the name
        np.savez(f, user=u, item=i, config=np.array(json.dumps(meta, sort_keys=True)))


def load_embeddings(path) -> tuple[np.ndarray, np.ndarray, dict]:
    with np.load(path) as z:
        return z["user"], z["item"], json.loads(str(z["config"]))


def train_lightgcn_rule(interactions_path, users_path, items_path, out_path, history_path, ckpt, cfg: dict,
                        device: str = "cpu", threads: int = 1, checkpoint: dict | None = None) -> None:
    """Rule train_lightgcn: train on the training interactions, write the embedding tables. cfg: the
    `lightgcn` settings that change the embeddings (the rule's tracked params); device and
    checkpoint: run control."""
    torch.set_num_threads(threads)
    n_users = n_users_of(users_path)
    n_items = stage_io.n_items_of(items_path)
    inter = stage_io.read_parquet(interactions_path, ["user_id", "item_id", "split"])
    stage_io.check_ids(inter, "user_id", n_users, interactions_path)
    stage_io.check_ids(inter, "item_id", n_items, interactions_path)
    device = resolve_device(device, "lightgcn.device")
    tracked = cfg
    fp = loop.fingerprint(tracked, Path(interactions_path), n_users, n_items)
    model, history = train_lightgcn(inter, n_users, n_items, cfg, ckpt, fp, device=device, checkpoint=checkpoint)
    save_embeddings(model, out_path, history, tracked)
    write_json({"lightgcn": tracked, "device": device, "n_users": n_users, "n_items": n_items, "history": history},
               history_path)
    Path(ckpt).unlink(missing_ok=True)
    best = max(history, key=lambda h: h["valid"])
    log.info("LightGCN: best valid Recall@%d %.4f at epoch %d -> %s", cfg["k"], best["valid"], best["epoch"], out_path)
