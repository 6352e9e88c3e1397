"""Training SEG (SELLER Eq. 12): the LM loss on the ground-truth explanation tokens, with the LLM
frozen and only the dual-path encoder + MoE adapter (models/seg.py) learning.

One step: sequence features -> adapter -> e (B, K, H) -> soft-token embeddings + q/k/v injection
(llm/inject.py) -> frozen LLM forward (use_cache=False: a training forward needs no KV cache) ->
loss on the explanation tokens -> Adam on the adapter. bf16 autocast on CUDA, fp32 on CPU.

Checkpoints: one per finished epoch at `ckpt` (resources/ckpt/, outside the outputs), holding the
adapter, the optimizer, the RNG streams and the history, with a fingerprint of config and data;
a killed job resumes after the last finished epoch and ends with the same weights.
The frozen backbone is asserted: no backbone parameter ever holds a gradient, and a checksum of
its weights is the same after training as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seller_core.data import stage_io
from seller_core.data.io import write_json
from seller_core.errors import BadInputError
from seller_core.llm.backbone import backbone_info, load_backbone, resolve_device
from seller_core.llm.inject import Injector
from seller_core.llm.prompting import PromptBuilder, collate
from seller_core.models.seg import SEGAdapter, SEGConfig, SequenceFeatures
from seller_core.train import loop
from seller_core.train.loop import Interrupted
from seller_core.models.sasrec import load_sasrec

log = logging.getLogger(__name__)

MODEL_KEYS = ("d", "n_layers", "n_heads", "d_ff", "encoder_dropout", "n_experts", "expert_hidden",
              "expert_dropout", "init_std", "use_rec", "use_sem")
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


# ---------------------------------------------------------------- one step
def autocast_for(device: str):
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()  # fp32 on CPU: bf16 is slower there


def lm_loss(model, injector: Injector, batch: dict, e) -> torch.Tensor:
    """Mean LM loss over the explanation tokens of a collated batch; e (B, K, H) or None (bare LLM).
    The caller clears the injection context after backward (see Injector).

    The output layer is applied only where a label follows (about half the positions): with a
    49k vocabulary it is a fifth of the model's compute per token, and the prompt positions'
    logits would be thrown away."""
    ids = batch["ids"]
    if e is not None:
        injector.set(batch["soft"], e, ids.shape[1])
        x = injector.inputs_embeds(ids, batch["soft"], e)
    else:
        x = model.get_input_embeddings()(ids)
    h = model.get_decoder()(inputs_embeds=x, attention_mask=batch["attention_mask"],
                            position_ids=batch["position_ids"], use_cache=False).last_hidden_state  # (B, T, H)
    labels = batch["labels"][:, 1:]  # position t predicts token t + 1
    keep = labels != -100
    logits = model.get_output_embeddings()(h[:, :-1][keep])  # (N, vocab)
    return torch.nn.functional.cross_entropy(logits.float(), labels[keep])


def assert_frozen(model) -> None:
    for name, p in model.named_parameters():
        if p.requires_grad or p.grad is not None:
            raise AssertionError(f"backbone parameter {name} is trainable or holds a gradient: the LLM must stay frozen")


@torch.no_grad()
def checksum(model) -> float:
    return float(sum(p.detach().double().sum().item() for p in model.parameters()))


def to_device(batch: dict, device: str) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- training
def run_epoch(model, tok, injector, adapter, opt, feats, enc, seqs, cfg, device, rng, epoch, history, counts) -> None:
    """One shuffled pass over the encoded samples; appends the epoch's record to `history`."""
    bs, epochs = cfg["batch_size"], cfg["epochs"]
    steps = (len(enc) + bs - 1) // bs
    adapter.train()
    order = rng.np_gen.permutation(len(enc))
    t0, ep_loss, ep_tok = time.perf_counter(), 0.0, 0
    for s in range(steps):
        idx = order[s * bs:(s + 1) * bs]
        batch = to_device(collate([enc[i] for i in idx], tok.pad_token_id, with_target=True), device)
        f = {k: v.to(device) for k, v in feats([seqs[i] for i in idx]).items()}
        with autocast_for(device):
            e = adapter(f)  # (B, K, H)
            loss = lm_loss(model, injector, batch, e)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        injector.clear()  # only after backward: checkpointed layers re-run the hooks during backward
        assert_frozen(model)
        n_tok = int(batch["attention_mask"].sum())
        ep_loss += loss.item()
        ep_tok += n_tok
        counts["tokens"] += n_tok
        counts["label_tokens"] += int((batch["labels"] != -100).sum())
        counts["steps"] += 1
        step = (epoch - 1) * steps + s + 1
        if step % cfg["log_every"] == 0 or s == steps - 1:
            el = time.perf_counter() - t0
            eta = ((steps - s - 1) + (epochs - epoch) * steps) * el / (s + 1)
            log.info("step %d/%d epoch %d loss %.4f (epoch mean %.4f) %.0f tokens/s ETA %.0fs",
                     step, steps * epochs, epoch, loss.item(), ep_loss / (s + 1), ep_tok / el, eta)
    secs = time.perf_counter() - t0
    history.append({"epoch": epoch, "loss": ep_loss / steps, "seconds": round(secs, 2), "tokens": ep_tok})
    log.info("epoch %d: mean loss %.4f, %.1fs, %.0f tokens/s", epoch, ep_loss / steps, secs, ep_tok / secs)


def train_seg(model, tok, sasrec, item_text_emb: np.ndarray, train_df: pd.DataFrame, cfg: dict, device: str,
              ckpt_path=None, fp: str = "", stop_after: int | None = None):
    """cfg: the resolved `seg` section of one variant. Returns (adapter, history, counts)."""
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
    opt = torch.optim.Adam(adapter.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    injector = Injector(model).install()
    assert_frozen(model)
    before = checksum(model)
    steps_per_epoch = (len(enc) + cfg["batch_size"] - 1) // cfg["batch_size"]
    start, history = 1, []
    ckpt_path = Path(ckpt_path) if ckpt_path else None
    if ckpt_path and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        if ck.get("fp") == fp:
            adapter.load_state_dict(ck["adapter"])
            opt.load_state_dict(ck["optimizer"])
            rng.load(ck["rng"])
            start, history = ck["epoch"] + 1, ck["history"]
            log.info("resuming from %s after epoch %d", ckpt_path, ck["epoch"])
        else:
            log.warning("ignoring checkpoint %s: it belongs to another config or data (%s != %s)", ckpt_path, ck.get("fp"), fp)
    log.info("SEG: %d adapter params, %d training samples, %d steps/epoch x %d epochs, device %s",
             sum(p.numel() for p in adapter.parameters()), len(enc), steps_per_epoch, cfg["epochs"], device)
    counts = {"tokens": 0, "label_tokens": 0, "steps": 0, "train_seconds": 0.0}
    t_run = time.perf_counter()
    try:
        for epoch in range(start, cfg["epochs"] + 1):
            run_epoch(model, tok, injector, adapter, opt, feats, enc, seqs, cfg, device, rng, epoch, history, counts)
            if ckpt_path:
                ckpt_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = ckpt_path.with_suffix(".tmp")
                torch.save({"fp": fp, "epoch": epoch, "adapter": adapter.state_dict(), "optimizer": opt.state_dict(),
                            "rng": rng.state(), "history": history}, tmp)
                os.replace(tmp, ckpt_path)  # atomic: a kill mid-save keeps the previous epoch's checkpoint
            if stop_after is not None and epoch - start + 1 >= stop_after:
                raise Interrupted(f"stopped after {epoch - start + 1} epochs (stop_after)")
    finally:
        injector.remove()  # the model leaves as it came, whatever happened
    counts["train_seconds"] = round(time.perf_counter() - t_run, 2)
    after = checksum(model)
    if after != before:
        raise AssertionError(f"backbone weights changed during SEG training (checksum {before} -> {after})")
    adapter.eval()
    return adapter, history, counts


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
