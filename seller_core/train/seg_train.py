"""Training SEG (SELLER Eq. 12): the LM loss on the ground-truth explanation tokens, with the LLM
frozen and only the dual-path encoder + MoE adapter (models/seg.py) learning.

One step: sequence features -> adapter -> e (B, K, H) -> soft-token embeddings + q/k/v injection
(llm/inject.py) -> frozen LLM forward (use_cache=False: a training forward needs no KV cache) ->
loss on the explanation tokens -> Adam on the adapter. bf16 autocast on CUDA, fp32 on CPU. The
loop, checkpoints and assertions are the shared ones of llm/adapter_train.py (XRec, PEPLER too);
this module holds what is SEG's: its samples, its adapter and its step.

Checkpoints: one per finished epoch at `ckpt` (resources/ckpt/, outside the outputs), holding the
adapter, the optimizer, the RNG streams and the history, with a fingerprint of config and data;
a killed job resumes after the last finished epoch and ends with the same weights.
The frozen backbone is asserted: no backbone parameter ever holds a gradient, and a checksum of
its weights is the same after training as before.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seller_core.data import stage_io
from seller_core.data.io import write_json
from seller_core.errors import BadInputError
from seller_core.llm.backbone import backbone_info, load_backbone, resolve_device
from seller_core.llm.adapter_train import batch_of, lm_loss, peak_rss_mb, train_adapter
from seller_core.llm.inject import Injector
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import PromptBuilder, shared_prefix
from seller_core.models.seg import SEGAdapter, SEGConfig, SequenceFeatures
from seller_core.train import loop
from seller_core.models.sasrec import load_sasrec

log = logging.getLogger(__name__)

MODEL_KEYS = ("d", "n_layers", "n_heads", "d_ff", "encoder_dropout", "n_experts", "expert_hidden",
              "expert_dropout", "init_std", "pool", "use_rec", "use_sem")
GT_COLUMNS = {"category": "category_text", "intent": "intent_text", "both": "both_text"}


# ---------------------------------------------------------------- data
def read_seg_samples(samples_path, cats_path, gt_path, n_items: int, kind: str | None) -> pd.DataFrame:
    """Samples of one split with `sequence` (history + target: SEG is post hoc), the sampled
    category text and (kind given) the GT explanation text."""
    df = stage_io.read_samples(samples_path, n_items)
    cats = stage_io.read_parquet(cats_path, ["sample_id", "text"]).rename(columns={"text": "category_text"})
    df = df.merge(cats, on="sample_id", how="left")
    if df["category_text"].isna().any():
        raise BadInputError(cats_path, f"no category text for sample_id {int(df['sample_id'][df['category_text'].isna()].iloc[0])}", key="sample_id")
    if kind is not None:
        col = GT_COLUMNS[kind]
        gt = stage_io.read_parquet(gt_path, ["sample_id", col, "backend"]).rename(columns={col: "explanation"})
        df = df.merge(gt, on="sample_id", how="left")
        if df["explanation"].isna().any():
            raise BadInputError(gt_path, f"no {col} for sample_id {int(df['sample_id'][df['explanation'].isna()].iloc[0])}", key=col)
    df["sequence"] = [list(h) + [int(t)] for h, t in zip(df["history"], df["item_id"])]
    return df.reset_index(drop=True)


def subsample(df: pd.DataFrame, n, seed: int) -> pd.DataFrame:
    """A seeded subset of n rows (file order kept); n = 'all' or >= len keeps everything."""
    if n == "all" or n is None or int(n) >= len(df):
        return df
    keep = np.sort(np.random.default_rng(seed).choice(len(df), size=int(n), replace=False))
    return df.iloc[keep].reset_index(drop=True)


def seg_config(cfg: dict, llm_hidden: int, sasrec, sem_in: int) -> SEGConfig:
    return SEGConfig(llm_hidden=llm_hidden, rec_in=sasrec.cfg.d, sem_in=sem_in, max_len=sasrec.cfg.max_len,
                     **{k: cfg[k] for k in MODEL_KEYS})


def prompt_builder(tok, cfg: dict) -> PromptBuilder:
    slots = [p for p in ("rec", "sem") if cfg[f"use_{p}"]]
    return PromptBuilder(tok, cfg["system_prompt"], slots, cfg["use_categories"], cfg["max_target_tokens"],
                         cfg["max_category_tokens"])


# ---------------------------------------------------------------- training
def train_seg(model, tok, sasrec, item_text_emb: np.ndarray, train_df: pd.DataFrame, cfg: dict, device: str,
              ckpt_path=None, fp: str = "", stop_after: int | None = None, callback=None, callback_every: int = 0,
              reuse_prefix: bool = True):
    """cfg: the resolved `seg` section of one variant. callback(step, adapter, prefix): see
    train_adapter (a validation probe). reuse_prefix False runs whole rows (benchmarks, tests).
    Returns (adapter, history, counts)."""
    rng = loop.RNG(cfg["seed"])  # seeds torch before the adapter's weights are drawn
    feats = SequenceFeatures(sasrec, torch.from_numpy(item_text_emb), cfg["behaviour"])
    scfg = seg_config(cfg, model.config.hidden_size, sasrec, item_text_emb.shape[1])
    adapter = SEGAdapter(scfg).to(device)
    builder = prompt_builder(tok, cfg)
    enc = [builder.encode(c, x) for c, x in zip(train_df["category_text"], train_df["explanation"])]
    seqs = train_df["sequence"].tolist()
    if not any(True for _ in adapter.parameters()):
        log.info("SEG variant without behaviour and semantic paths (w/o DE): no soft token, nothing to train")
        return adapter.eval(), [], {"tokens": 0, "label_tokens": 0, "steps": 0, "train_seconds": 0.0}
    prefix = PrefixCache.build(model, shared_prefix(enc, builder.prefix_len())) if reuse_prefix else None
    injector = Injector(model).install()

    def step_loss(idx):
        batch = batch_of([enc[i] for i in idx], tok.pad_token_id, device, with_target=True, prefix=prefix)
        f = {k: v.to(device) for k, v in feats([seqs[i] for i in idx]).items()}
        return lm_loss(model, injector, batch, adapter(f), prefix), batch  # adapter -> e (B, K, H)

    try:
        history, counts = train_adapter(adapter, len(enc), step_loss, cfg, rng, device=device, name="SEG",
                                        frozen=model, injector=injector, ckpt_path=ckpt_path, fp=fp,
                                        stop_after=stop_after, callback_every=callback_every,
                                        callback=(lambda step: callback(step, adapter, prefix)) if callback else None)
    finally:
        injector.remove()  # the model leaves as it came, whatever happened
    return adapter.eval(), history, counts


# ---------------------------------------------------------------- artifacts
def save_seg(adapter: SEGAdapter, path, cfg: dict, extra: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    torch.save({"config": adapter.cfg.to_dict(), "state_dict": adapter.state_dict(), "seg": cfg, **extra}, tmp)
    os.replace(tmp, path)


def load_seg(path, device: str = "cpu") -> tuple[SEGAdapter, dict]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no trained SEG here (run: snakemake {path})")
    ck = torch.load(path, weights_only=False, map_location="cpu")
    adapter = SEGAdapter(SEGConfig(**ck["config"]))
    adapter.load_state_dict(ck["state_dict"])
    return adapter.to(device).eval(), ck


def train_seg_rule(inp: dict, out: dict, ckpt, cfg: dict, llm_cfg: dict, threads: int = 1) -> None:
    """Rule train_seg. inp: sasrec, item_table, item_text_emb, train, category_texts, gt, backbone;
    out: model, history, cost."""
    t_all = time.perf_counter()
    torch.set_num_threads(threads)
    device = resolve_device(llm_cfg["device"])
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    n_items = stage_io.n_items_of(inp["item_table"])
    sasrec = load_sasrec(inp["sasrec"])
    emb = np.load(inp["item_text_emb"])
    if emb.shape[0] != n_items:
        raise BadInputError(inp["item_text_emb"], f"{emb.shape[0]} rows for {n_items} items")
    df = read_seg_samples(inp["train"], inp["category_texts"], inp["gt"], n_items, cfg["kind"])
    df = subsample(df, cfg["max_train_samples"], cfg["seed"])
    t0 = time.perf_counter()
    model, tok = load_backbone(inp["backbone"], device, llm_cfg["dtype"])
    load_s = time.perf_counter() - t0
    # what the weights depend on (not the device or the log frequency: a resumed run may differ there)
    fp = loop.fingerprint({k: v for k, v in cfg.items() if k != "log_every"}, llm_cfg.get("source"),
                          *(Path(inp[k]) for k in ("sasrec", "item_text_emb", "train", "category_texts", "gt")),
                          backbone_info(model))
    adapter, history, counts = train_seg(model, tok, sasrec, emb, df, cfg, device, ckpt, fp)
    backend = df["backend"].iloc[0] if len(df) else "unknown"
    extra = {"backbone": {"path": str(inp["backbone"]), **backbone_info(model)}, "llm": llm_cfg,
             "gt_backend": str(backend), "history": history}
    save_seg(adapter, out["model"], cfg, extra)
    write_json({"seg": cfg, "history": history, "n_train": len(df)}, out["history"])
    cost = {"stage": "train_seg", "device": device, "wall_seconds": round(time.perf_counter() - t_all, 2),
            "backbone_load_seconds": round(load_s, 2), **counts, "samples": len(df), "epochs": len(history),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.startswith("cuda") else None,
            "tokens_per_second": round(counts["tokens"] / max(counts["train_seconds"], 1e-9), 1)}
    write_json(cost, out["cost"])
    Path(ckpt).unlink(missing_ok=True)
    log.info("SEG trained: %s", cost)
