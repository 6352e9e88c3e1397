"""One training loop for the adapter-style LLM methods (SEG, XRec, PEPLER): epochs or a step
budget over a pool of samples, a warm-up/decay schedule, the frozen-backbone assertion after
every step, a step callback (the validation probe), progress lines with ETA, and checkpoints.

Checkpoints at `ckpt_path` (outside the Snakemake outputs): one per finished epoch and, with the
run-control `checkpoint` settings, every N steps or M minutes inside an epoch. Each holds the
trainable module, the optimizer, the schedule, the RNG streams, the history and, inside an epoch,
the epoch's sample order, the step reached and the epoch's running sums, with a fingerprint of
config and data. A job killed at any step (or while writing a checkpoint: the write is atomic)
resumes from the last checkpoint and ends with bit-identical weights.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seller_core.llm.adapter_train import assert_frozen, autocast_for, checksum
from seller_core.runtime import save_atomic
from seller_core.train import loop
from seller_core.train.loop import Interrupted

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
    start, history, resume = 1, [], None
    # this process's work (a resumed job counts what it did itself, like its train_seconds)
    counts = {"tokens": 0, "label_tokens": 0, "steps": 0, "train_seconds": 0.0}
    ckpt_path = Path(ckpt_path) if ckpt_path else None
    every = cfg.get("checkpoint") or {}
    every_steps, every_secs = int(every.get("every_steps") or 0), 60.0 * float(every.get("every_minutes") or 0)
    if ckpt_path and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        if ck.get("fp") == fp and "state" in ck:  # (a SEG checkpoint of the earlier format has "adapter": ignored)
            trainable.load_state_dict(ck["state"])
            opt.load_state_dict(ck["optimizer"])
            if "scheduler" in ck:
                sched.load_state_dict(ck["scheduler"])
            rng.load(ck["rng"])
            start, history = ck["epoch"] + 1, ck["history"]
            resume = ck.get("in_epoch")
            if resume:
                log.info("%s: resuming from %s at step %d of epoch %d", name, ckpt_path, resume["done"], start)
            else:
                log.info("%s: resuming from %s after epoch %d", name, ckpt_path, ck["epoch"])
        else:
            log.warning("%s: ignoring checkpoint %s: it belongs to another config or data (%s != %s)", name, ckpt_path,
                        ck.get("fp"), fp)
    log.info("%s: %d trainable params, %d samples, %d steps (%d/epoch), %s lr %g (warm-up %d, %s decay), device %s",
             name, sum(p.numel() for p in params), n_samples, total, steps_per_epoch, opt_name, cfg["lr"],
             int(cfg.get("warmup_steps", 0)), cfg.get("lr_decay", "constant"), device)

    def probe(step: int) -> None:
        if callback is None:
            return
        trainable.eval()
        with torch.random.fork_rng(devices=[]):  # the probe draws nothing the training would have drawn
            callback(step)
        trainable.train()

    def save(epoch_done: int, in_epoch: dict | None) -> None:
        save_atomic({"fp": fp, "epoch": epoch_done, "in_epoch": in_epoch, "state": trainable.state_dict(),
                     "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": rng.state(),
                     "history": history}, ckpt_path)

    t_run, done_here = time.perf_counter(), 0
    if start == 1 and resume is None:
        probe(0)
    for epoch in range(start, epochs + 1):
        first = (epoch - 1) * steps_per_epoch
        if first >= total:
            break
        n_steps = min(steps_per_epoch, total - first)
        trainable.train()
        if resume is not None:  # mid-epoch: the saved order (the rng has already drawn it) and sums
            order, s0, ep_loss, ep_tok = np.asarray(resume["order"]), resume["done"], resume["loss"], resume["tokens"]
            resume = None
        else:
            order, s0, ep_loss, ep_tok = rng.np_gen.permutation(n_samples), 0, 0.0, 0
        t0 = t_saved = time.perf_counter()
        tok0 = ep_tok  # tokens of this epoch done before a resume: not in this run's rate
        for s in range(s0, n_steps):
            idx = order[s * bs:(s + 1) * bs]
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
            ep_loss += loss.item()
            ep_tok += n_tok
            counts["tokens"] += n_tok
            counts["label_tokens"] += int((batch["labels"] != -100).sum())
            counts["steps"] += 1
            step = first + s + 1
            if step % cfg["log_every"] == 0 or s == n_steps - 1:
                el = time.perf_counter() - t0
                eta = (total - step) * el / (s + 1 - s0)
                log.info("%s step %d/%d epoch %d loss %.4f (epoch mean %.4f) lr %.3g %.0f tokens/s ETA %.0fs", name,
                         step, total, epoch, loss.item(), ep_loss / (s + 1), sched.get_last_lr()[0], (ep_tok - tok0) / el, eta)
            if ckpt_path and s < n_steps - 1 and (every_steps and (s + 1) % every_steps == 0
                                                   or every_secs and time.perf_counter() - t_saved >= every_secs):
                save(epoch - 1, {"done": s + 1, "order": order, "loss": ep_loss, "tokens": ep_tok})
                t_saved = time.perf_counter()
            if callback_every and step % callback_every == 0 or step == total or step in callback_at:
                probe(step)
        secs = time.perf_counter() - t0
        history.append({"epoch": epoch, "loss": ep_loss / n_steps, "steps": n_steps, "seconds": round(secs, 2),
                        "tokens": ep_tok})
        log.info("%s epoch %d: mean loss %.4f, %.1fs", name, epoch, ep_loss / n_steps, secs)
        if ckpt_path:
            save(epoch, None)
        done_here += 1
        if stop_after is not None and done_here >= stop_after:
            raise Interrupted(f"{name}: stopped after {done_here} epochs (stop_after)")
    counts["train_seconds"] = round(time.perf_counter() - t_run, 2)
    if frozen is not None and checksum(frozen) != before:
        raise AssertionError(f"{name}: backbone weights changed during training (checksum {before} -> {checksum(frozen)})")
    trainable.eval()
    return history, counts
