"""Training SEG (SELLER Eq. 12): the LM loss on the ground-truth explanation tokens, with the LLM
frozen and only the dual-path encoder + MoE adapter (models/seg.py) learning.

One step: sequence features -> adapter -> e (B, K, H) -> soft-token embeddings + q/k/v injection
(llm/inject.py) -> frozen LLM forward (use_cache=False: a training forward needs no KV cache) ->
loss on the explanation tokens -> Adam on the adapter. bf16 autocast on CUDA, fp32 on CPU. The
loop, checkpoints and assertions are the shared ones of train/adapter_loop.py (XRec, PEPLER too);
this module holds what is SEG's: its samples, its adapter and its step.

Checkpoints: one per finished epoch at `ckpt` (resources/ckpt/, outside the outputs), holding the
adapter, the optimizer, the RNG streams and the history, with a fingerprint of config and data;
a killed job resumes after the last finished epoch and ends with the same weights.
The frozen backbone is asserted: no backbone parameter ever holds a gradient, and a checksum of
its weights is the same after training as before.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seller_core.data import stage_io
from seller_core.data.io import write_json
from seller_core.errors import BadInputError
from seller_core.llm.backbone import backbone_info, load_backbone
from seller_core.llm.adapter_train import batch_of, lm_loss
from seller_core.train.adapter_loop import train_adapter
from seller_core.llm.inject import Injector
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import PromptBuilder, shared_prefix
from seller_core.models.seg import SEGAdapter, SEGConfig, SequenceFeatures
from seller_core.runtime import load_model, resolve_device, save_model
from seller_core.train.llm_baselines import train_cost
from seller_core.train import loop
from seller_core.models.sasrec import load_sasrec

log = logging.getLogger(__name__)

MODEL_KEYS = ("d", "n_layers", "n_heads", "d_ff", "encoder_dropout", "n_experts", "expert_hidden",
              "expert_dropout", "init_std", "pool", "use_rec", "use_sem", "inject_at", "qkv_gate", "slot_scale")
CATEGORY_TEXTS = ("sampled", "target_first")


# ---------------------------------------------------------------- data
def read_seg_samples(samples_path, cats_path, gt_path, n_items: int, kind: str | None,
                     category_text: str = "sampled", items_path=None) -> pd.DataFrame:
    """Samples of one split with `sequence` (history + target: SEG is post hoc), the category text
    and (kind given) the GT explanation text. category_text: "sampled" = the paper's sub-sampled
    categories of the sequence (Appendix A.1.2); "target_first" = the target item's own categories
    (Eq. 2's d_i; from items_path), then the sampled ones it does not repeat."""
    if category_text not in CATEGORY_TEXTS:
        raise ValueError(f"config key seg.category_text: {category_text!r} is not one of {CATEGORY_TEXTS}")
    df = stage_io.read_samples(samples_path, n_items)
    cols = ["sample_id", "text"] + (["categories"] if category_text == "target_first" else [])
    cats = stage_io.read_parquet(cats_path, cols).rename(columns={"text": "category_text"})
    df = df.merge(cats, on="sample_id", how="left")
    if df["category_text"].isna().any():
        raise BadInputError(cats_path, f"no category text for sample_id {int(df['sample_id'][df['category_text'].isna()].iloc[0])}", key="sample_id")
    if category_text == "target_first":
        if items_path is None:
            raise ValueError("category_text target_first needs the item table (items_path)")
        own = stage_io.read_parquet(items_path, ["item_id", "categories"]).set_index("item_id")["categories"]
        texts = []
        for item, sampled in zip(df["item_id"], df["categories"]):
            first = [str(c) for c in own.loc[int(item)]]
            texts.append(", ".join(first + [str(c) for c in sampled if str(c) not in first]))
        df["category_text"] = texts
        df = df.drop(columns="categories")
    if items_path is not None:  # the target's own categories: stage 1's targets (cfg stage1_steps)
        own = stage_io.read_parquet(items_path, ["item_id", "categories"]).set_index("item_id")["categories"]
        df["target_categories"] = [[str(c) for c in own.loc[int(i)]] for i in df["item_id"]]
    if kind is not None:
        col = stage_io.GT_COLUMNS[kind]
        gt = stage_io.read_parquet(gt_path, ["sample_id", col, "backend"]).rename(columns={col: "explanation"})
        df = df.merge(gt, on="sample_id", how="left")
        if df["explanation"].isna().any():
            raise BadInputError(gt_path, f"no {col} for sample_id {int(df['sample_id'][df['explanation'].isna()].iloc[0])}", key=col)
    df["sequence"] = [list(h) + [int(t)] for h, t in zip(df["history"], df["item_id"])]
    return df.reset_index(drop=True)


def seg_config(cfg: dict, llm_hidden: int, sasrec, sem_in: int, llm_layers: int = 0) -> SEGConfig:
    # keys a saved config predates take SEGConfig's defaults (today's behaviour)
    return SEGConfig(llm_hidden=llm_hidden, rec_in=sasrec.cfg.d, sem_in=sem_in, max_len=sasrec.cfg.max_len,
                     llm_layers=llm_layers, **{k: cfg[k] for k in MODEL_KEYS if k in cfg})


def prompt_builder(tok, cfg: dict) -> PromptBuilder:
    slots = [p for p in ("rec", "sem") if cfg[f"use_{p}"]]
    return PromptBuilder(tok, cfg["system_prompt"], slots, cfg["use_categories"], cfg["max_target_tokens"],
                         cfg["max_category_tokens"])


# ---------------------------------------------------------------- training
def train_seg(model, tok, sasrec, item_text_emb: np.ndarray, train_df: pd.DataFrame, cfg: dict, device: str,
              ckpt_path=None, fp: str = "", stop_after: int | None = None, callback=None, callback_every: int = 0,
              reuse_prefix: bool = True, callback_at=()):
    """cfg: the resolved `seg` section of one variant. callback(step, adapter, prefix): see
    train_adapter (a validation probe). reuse_prefix False runs whole rows (benchmarks, tests).
    Returns (adapter, history, counts)."""
    rng = loop.RNG(cfg["seed"])  # seeds torch before the adapter's weights are drawn
    feats = SequenceFeatures(sasrec, torch.from_numpy(item_text_emb), cfg["behaviour"])
    scfg = seg_config(cfg, model.config.hidden_size, sasrec, item_text_emb.shape[1], model.config.num_hidden_layers)
    adapter = SEGAdapter(scfg).to(device)
    builder = prompt_builder(tok, cfg)
    enc = [builder.encode(c, x) for c, x in zip(train_df["category_text"], train_df["explanation"])]
    seqs = train_df["sequence"].tolist()
    if not any(True for _ in adapter.parameters()):
        log.info("SEG variant without behaviour and semantic paths (w/o DE): no soft token, nothing to train")
        return adapter.eval(), [], {"tokens": 0, "label_tokens": 0, "steps": 0, "train_seconds": 0.0}
    prefix = PrefixCache.build(model, shared_prefix(enc, builder.prefix_len())) if reuse_prefix else None
    injector = Injector(model).configure(**adapter.injection()).install()

    def step_loss(idx):
        batch = batch_of([enc[i] for i in idx], tok.pad_token_id, device, with_target=True, prefix=prefix)
        f = {k: v.to(device) for k, v in feats([seqs[i] for i in idx]).items()}
        return lm_loss(model, injector, batch, adapter(f), prefix), batch  # adapter -> e (B, K, H)

    try:
        pre = stage1(model, tok, adapter, feats, train_df, cfg, rng, injector, prefix, device, ckpt_path, fp)
        history, counts = train_adapter(adapter, len(enc), step_loss, cfg, rng, device=device, name="SEG",
                                        frozen=model, injector=injector, ckpt_path=ckpt_path, fp=fp,
                                        stop_after=stop_after, callback_every=callback_every, callback_at=set(callback_at),
                                        callback=(lambda step: callback(step, adapter, prefix)) if callback else None)
    finally:
        injector.remove()  # the model leaves as it came, whatever happened
    if pre is not None:
        history = pre[0] + history
        counts = {k: round(counts[k] + pre[1][k], 2) for k in counts}
    return adapter.eval(), history, counts


def stage1(model, tok, adapter, feats, train_df, cfg, rng, injector, prefix, device, ckpt_path, fp):
    """Optional first stage (cfg stage1_steps > 0; a documented departure from the paper, after
    LLaVA's and xRAG's first stages): the LM loss on the target's own category names, from a
    prompt WITHOUT the category text, so only the soft vectors can tell them. Short, fully
    determined targets give each step a per-sample signal that long explanations dilute with
    format tokens. The same adapter then goes on to the explanation loss (a fresh optimizer).
    -> (history, counts) or None when the stage is off."""
    steps = int(cfg.get("stage1_steps") or 0)
    if steps == 0:
        return None
    if "target_categories" not in train_df:
        raise ValueError("seg.stage1_steps needs the target items' categories (read_seg_samples with items_path)")
    b1 = prompt_builder(tok, {**cfg, "use_categories": False})
    enc1 = [b1.encode("", ", ".join(c)) for c in train_df["target_categories"]]
    if prefix is not None and shared_prefix(enc1, b1.prefix_len()) != prefix.ids:
        raise ValueError("stage 1's prompt does not share the explanation prompt's prefix")
    seqs = train_df["sequence"].tolist()

    def step_loss(idx):
        batch = batch_of([enc1[i] for i in idx], tok.pad_token_id, device, with_target=True, prefix=prefix)
        f = {k: v.to(device) for k, v in feats([seqs[i] for i in idx]).items()}
        return lm_loss(model, injector, batch, adapter(f), prefix), batch

    c1 = {**cfg, "max_steps": steps, "epochs": -(-steps * cfg["batch_size"] // len(enc1)),
          "lr": cfg.get("stage1_lr") or cfg["lr"], "warmup_steps": min(int(cfg.get("warmup_steps", 0)), steps),
          "lr_decay": "constant"}
    ck1 = Path(str(ckpt_path) + ".stage1") if ckpt_path else None
    history, counts = train_adapter(adapter, len(enc1), step_loss, c1, rng, device=device, name="SEG stage 1",
                                    frozen=model, injector=injector, ckpt_path=ck1, fp=f"{fp}/stage1")
    return [{**h, "stage": 1} for h in history], counts


# ---------------------------------------------------------------- artifacts
def save_seg(adapter: SEGAdapter, path, cfg: dict, extra: dict) -> None:
    save_model(adapter, path, seg=cfg, **extra)


def load_seg(path, device: str = "cpu") -> tuple[SEGAdapter, dict]:
    return load_model(path, lambda c: SEGAdapter(SEGConfig(**c)), "SEG", device)


def train_seg_rule(inp: dict, out: dict, ckpt, cfg: dict, llm_cfg: dict, threads: int = 1, run: dict | None = None) -> None:
    """Rule train_seg. inp: sasrec, item_table, item_text_emb, train, category_texts, gt, backbone;
    out: model, history, cost. cfg: the resolved `seg` settings that change the adapter (fingerprinted,
    saved with it); run: run control (log_every, checkpoint), merged in for the trainer only."""
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
    df = read_seg_samples(inp["train"], inp["category_texts"], inp["gt"], n_items, cfg["kind"],
                          cfg.get("category_text", "sampled"), inp["item_table"])
    df = stage_io.subsample(df, cfg["max_train_samples"], cfg["seed"])
    t0 = time.perf_counter()
    model, tok = load_backbone(inp["backbone"], device, llm_cfg["dtype"])
    load_s = time.perf_counter() - t0
    # what the weights depend on (not the device or the log frequency: a resumed run may differ there)
    fp = loop.fingerprint(cfg, llm_cfg.get("source"),
                          *(Path(inp[k]) for k in ("sasrec", "item_text_emb", "train", "category_texts", "gt")),
                          backbone_info(model))
    adapter, history, counts = train_seg(model, tok, sasrec, emb, df, {**cfg, **(run or {})}, device, ckpt, fp)
    extra = {"backbone": {"path": str(inp["backbone"]), **backbone_info(model)}, "llm": llm_cfg,
             "gt_backend": stage_io.gt_backend_of(inp["gt"]), "history": history}
    save_seg(adapter, out["model"], cfg, extra)
    write_json({"seg": cfg, "history": history, "n_train": len(df)}, out["history"])
    cost = train_cost("train_seg", device, t_all, load_s, counts, len(df), len(history))
    write_json(cost, out["cost"])
    Path(ckpt).unlink(missing_ok=True)
    Path(str(ckpt) + ".stage1").unlink(missing_ok=True)
    log.info("SEG trained: %s", cost)
