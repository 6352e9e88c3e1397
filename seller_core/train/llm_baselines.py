"""What the LLM methods on (user, item) pairs share around the adapter loop: their samples (the
seeded training subset every generator draws: stage_io.subsample), backbone loading with a
fingerprint, and the cost records (the keys every trained method's cost.json has)."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch

from seller_core.data import stage_io
from seller_core.llm.backbone import backbone_info, load_backbone
from seller_core.runtime import cost_record, resolve_device
from seller_core.train import loop
from seller_core.train.baseline_io import n_users_of



def read_samples(samples_path, users_path, items_path, gt_path=None, kind: str | None = None,
                 max_samples="all", seed: int = 0) -> tuple[pd.DataFrame, int, int]:
    """Samples of one split (sample_id, user_id, item_id[, explanation]) in file order, subset like
    SEG's (same n and seed give the same rows); -> (df, n_users, n_items)."""
    n_users, n_items = n_users_of(users_path), stage_io.n_items_of(items_path)
    df = stage_io.read_samples(samples_path, n_items)[["sample_id", "user_id", "item_id"]]
    stage_io.check_ids(df, "user_id", n_users, samples_path)
    if kind is not None:
        df["explanation"] = stage_io.gt_texts(gt_path, df, kind)
    return stage_io.subsample(df, max_samples, seed), n_users, n_items


def open_backbone(path, llm_cfg: dict, device: str | None = None):
    """-> (model, tok, device, seconds). device: run control (llm.device) unless given."""
    device = resolve_device(device or llm_cfg["device"])
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model, tok = load_backbone(path, device, llm_cfg["dtype"])
    return model, tok, device, round(time.perf_counter() - t0, 2)


def fingerprint(cfg: dict, llm_cfg: dict, model, *paths) -> str:
    """What the trained weights depend on. cfg: the tracked settings only (run control never reaches
    it: a run resumed with another device or log frequency still finds its checkpoint)."""
    return loop.fingerprint(cfg, llm_cfg.get("source"),
                            llm_cfg.get("dtype"), *(Path(p) for p in paths), backbone_info(model))


def train_cost(stage: str, device: str, t_all: float, load_s: float, counts: dict, samples: int, epochs: int) -> dict:
    """An LLM method's training cost record (the adapter loop's counts)."""
    return cost_record(stage, device, t_all, ("tokens", "train_seconds", "tokens_per_second"),
                       backbone_load_seconds=round(load_s, 2), **counts, samples=samples, epochs=epochs)


def generate_cost(stage: str, device: str, t_all: float, load_s: float, counts: dict) -> dict:
    """An LLM method's generation cost record (generate_texts' counts)."""
    return cost_record(stage, device, t_all, ("new_tokens", "generate_seconds", "new_tokens_per_second"), **counts,
                       load_seconds=load_s)


def sum_counts(*parts: dict) -> dict:
    out = {}
    for p in parts:
        for k, v in p.items():
            out[k] = round(out.get(k, 0) + v, 2) if isinstance(v, float) else out.get(k, 0) + v
    return out
