"""The adapter-style LLM methods' step (SEG, XRec, PEPLER) on the one loop (train/loop.py: fit):
an optimizer over the trainable parameters, a warm-up/decay schedule stepped per update, an
epoch or step budget over a pool of samples, the frozen-backbone assertion after every step,
and a step callback (the validation probe) that cannot change the weights.

Checkpoints (fit's): at `ckpt_path`, outside the Snakemake outputs, one per finished epoch and,
with the run-control `checkpoint` settings, every N steps or M minutes inside an epoch, holding
the schedule too; a job killed at any step (or while writing a checkpoint: the write is atomic)
resumes from the last one and ends with bit-identical weights.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

import numpy as np
import torch

from seller_core.llm.adapter_train import assert_frozen, autocast_for, checksum
from seller_core.train import loop

log = logging.getLogger(__name__)

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


SCHEDULES = ("constant", "linear", "cosine")


def lr_lambda(total: int, warmup: int, decay: str, min_ratio: float) -> Callable[[int], float]:
    """Multiplier of the base lr after `step` updates: linear warm-up over `warmup` steps, then
    constant, or linear / cosine decay to min_ratio at the last step (LLaVA's stage 1: 3 % warm-up
    and cosine). warmup 0 and constant is today's fixed lr, exactly (the multiplier is 1.0)."""
    if decay not in SCHEDULES:
        raise ValueError(f"lr_decay {decay!r} is not one of {SCHEDULES}")

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if decay == "constant":
            return 1.0
        frac = min(1.0, (step - warmup) / max(1, total - warmup))
        shape = 1.0 - frac if decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * frac))
        return min_ratio + (1.0 - min_ratio) * shape

    return f


def train_adapter(trainable: torch.nn.Module, n_samples: int, step_loss: Callable[[np.ndarray], tuple], cfg: dict,
                  rng: loop.RNG, *, device: str, name: str, frozen=None, injector=None, ckpt_path=None, fp: str = "",
                  stop_after: int | None = None, callback: Callable[[int], None] | None = None,
                  callback_every: int = 0, callback_at=()) -> tuple[list[dict], dict]:
    """Train `trainable` (its parameters with requires_grad) for cfg['epochs'] epochs over n_samples,
    or for cfg['max_steps'] steps when that is set (the epochs are then an upper bound: a pool of
    distinct samples larger than the steps x batch is read once, never recycled).

    step_loss(idx) -> (loss, batch): idx the sample indices of one step, batch the collated batch
    (its attention_mask and labels are counted). cfg: lr, weight_decay, batch_size, epochs,
    log_every and optionally optimizer (adam | adamw), max_steps, warmup_steps, lr_decay
    (constant | linear | cosine), min_lr_ratio. frozen: the backbone that must not learn
    (asserted after every step, checksummed before and after); None when the LM trains too.
    injector: its context is cleared after backward (checkpointed layers re-run the hooks).
    callback(step): called at step 0 (before any update), every `callback_every` steps and after
    the last one (and at each step of `callback_at`), with `trainable` in eval mode and the RNG streams forked, so a run with a probe
    ends with the same weights as one without.
    cfg['checkpoint'] (run control, optional): {every_steps, every_minutes}, 0 = off; a checkpoint
    inside the epoch after every `every_steps` steps and/or when `every_minutes` have passed since
    the last one (the epoch's end always writes one).
    rng must be created (seeded) before `trainable`'s weights were drawn.
    Returns (history, counts)."""
    params = [p for p in trainable.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{name}: nothing to train (no parameter requires a gradient)")
    opt_name = cfg.get("optimizer", "adam")
    if opt_name not in OPTIMIZERS:
        raise ValueError(f"{name}: optimizer {opt_name!r} is not one of {sorted(OPTIMIZERS)}")
    opt = OPTIMIZERS[opt_name](params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    if frozen is not None:
        assert_frozen(frozen)
        before = checksum(frozen)
    bs, epochs = cfg["batch_size"], cfg["epochs"]
    steps_per_epoch = (n_samples + bs - 1) // bs
    total = steps_per_epoch * epochs
    if cfg.get("max_steps"):
        if int(cfg["max_steps"]) > total:
            log.warning("%s: max_steps %d is more than epochs x steps per epoch = %d x %d: training stops at %d "
                        "(raise max_train_samples for distinct samples, or epochs to recycle them)", name,
                        int(cfg["max_steps"]), epochs, steps_per_epoch, total)
        total = min(total, int(cfg["max_steps"]))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(total, int(cfg.get("warmup_steps", 0)),
                                                             cfg.get("lr_decay", "constant"),
                                                             float(cfg.get("min_lr_ratio", 0.0))))
    # this process's work (a resumed job counts what it did itself, like its train_seconds)
    counts = {"tokens": 0, "label_tokens": 0, "steps": 0, "train_seconds": 0.0}
    log.info("%s: %d trainable params, %d samples, %d steps (%d/epoch), %s lr %g (warm-up %d, %s decay), device %s",
             name, sum(p.numel() for p in params), n_samples, total, steps_per_epoch, opt_name, cfg["lr"],
             int(cfg.get("warmup_steps", 0)), cfg.get("lr_decay", "constant"), device)

    def batches(epoch: int) -> list:
        order = rng.np_gen.permutation(n_samples)
        return [order[s * bs:(s + 1) * bs] for s in range(steps_per_epoch)]

    def step(idx) -> tuple:
        with autocast_for(device):
            loss, batch = step_loss(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if injector is not None:
            injector.clear()
        if frozen is not None:
            assert_frozen(frozen)
        n_tok = int(batch["attention_mask"].sum())
        counts["tokens"] += n_tok
        counts["label_tokens"] += int((batch["labels"] != -100).sum())
        counts["steps"] += 1
        return loss.item(), 1, {"tokens": n_tok}  # the epoch's loss: the mean over its steps

    def on_step(step_no: int) -> None:
        if callback is None or not (step_no == 0 or callback_every and step_no % callback_every == 0
                                    or step_no == total or step_no in callback_at):
            return
        trainable.eval()
        with torch.random.fork_rng(devices=[]):  # the probe draws nothing the training would have drawn
            callback(step_no)
        trainable.train()

    t_run = time.perf_counter()
    _, history = loop.fit(trainable, opt, None, rng, batches=batches, step=step, max_epochs=epochs,
                          max_steps=total, scheduler=sched, ckpt_path=ckpt_path, fp=fp,
                          checkpoint=cfg.get("checkpoint"), on_step=on_step, stop_after=stop_after, name=name,
                          log_every=cfg["log_every"])
    counts["train_seconds"] = round(time.perf_counter() - t_run, 2)
    if frozen is not None and checksum(frozen) != before:
        raise AssertionError(f"{name}: backbone weights changed during training (checksum {before} -> {checksum(frozen)})")
    return history, counts
