"""The one training loop (fit): epochs of steps, early stopping on a validation score, and checkpoints
per epoch and every N steps or M minutes inside one.

The checkpoint holds everything the next epoch depends on (weights, optimizer, RNG states, the
best weights so far, the history), so an interrupted run resumed from it ends with exactly the
weights an uninterrupted run would have. It carries a fingerprint of the config and data: a
checkpoint from another config is ignored (and said so in the log), never silently reused.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seller_core.runtime import save_atomic

log = logging.getLogger(__name__)


class Interrupted(RuntimeError):
    """Raised by fit(stop_after=...) to simulate a killed run."""


def fingerprint(*parts) -> str:
    """Stable hash of JSON-able parts and file contents (Paths)."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path):
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


@dataclass
class RNG:
    """The random streams a training run draws from; all are seeded from config."""

    seed: int
    np_gen: np.random.Generator = field(init=False)
    torch_gen: torch.Generator = field(init=False)

    def __post_init__(self):
        torch.manual_seed(self.seed)  # dropout draws from the global torch generator
        self.np_gen = np.random.default_rng(self.seed)
        self.torch_gen = torch.Generator().manual_seed(self.seed)

    def state(self) -> dict:
        return {"np": self.np_gen.bit_generator.state, "torch_gen": self.torch_gen.get_state(), "torch_global": torch.get_rng_state()}

    def load(self, state: dict) -> None:
        self.np_gen.bit_generator.state = state["np"]
        self.torch_gen.set_state(state["torch_gen"])
        torch.set_rng_state(state["torch_global"])


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    validate: Callable[[], float | tuple[float, dict]] | None,
    rng: RNG,
    *,
    batches: Callable[[int], list],
    step: Callable[[object], tuple],
    max_epochs: int,
    ckpt_path: str | os.PathLike | None,
    fp: str,
    patience: int = 0,
    max_steps: int | None = None,
    scheduler=None,
    checkpoint: dict | None = None,
    patience_mode: str = "since_best",
    validate_first: bool = True,
    after_epoch: Callable[[int, bool], None] | None = None,
    on_step: Callable[[int], None] | None = None,
    stop_after: int | None = None,
    name: str = "",
    log_every: int = 0,
) -> tuple[dict, list[dict]]:
    """The one training loop: epochs of steps, optional early stopping, resumable at any step.

    An epoch is `batches(epoch) -> [batch, ...]` (drawn from `rng` at the epoch's start, so the
    checkpoint can hold the plan) and `step(batch) -> (loss x weight, weight[, counters])` per
    batch (the step does its own forward, backward and optimizer step; counters, e.g. tokens, are
    summed into the epoch's history). max_steps caps the steps over all epochs (the last epoch is
    cut short). checkpoint = {every_steps, every_minutes} (run control, 0 = off) writes one inside
    the epoch too, holding the epoch's batches, the batch reached and the running sums; with the
    weights, optimizer, `scheduler`, RNG streams, best weights and patience counters it is enough
    for a run killed at any step to resume there with bit-identical weights.

    validate() -> score (higher is better), or (score, extra history fields); None trains without
    validation and keeps the last weights. patience_mode: "since_best" stops when `patience`
    epochs passed since the best one; "total" after `patience` epochs without a new best in all
    (PETER's endure). validate_first: score the untrained model as epoch 0 (so a model that
    training does not improve is kept as it was). after_epoch(epoch, improved) runs before the
    epoch's checkpoint (e.g. a learning-rate decay on a bad epoch). on_step(global step) runs at
    step 0 of a fresh run and after every step (after its checkpoint), e.g. a validation probe.

    Returns (the kept state_dict, history). `stop_after` ends the call after that many epochs of
    this call (tests simulate an interruption with it).
    """
    if patience_mode not in ("since_best", "total"):
        raise ValueError(f"fit: patience_mode {patience_mode!r} is not since_best or total")
    tag = f"{name}: " if name else ""
    every = checkpoint or {}
    every_steps, every_secs = int(every.get("every_steps") or 0), 60.0 * float(every.get("every_minutes") or 0)
    ckpt_path = Path(ckpt_path) if ckpt_path else None
    start, gstep, history, resume = 1, 0, [], None
    best = {"score": -np.inf, "epoch": 0, "state": None, "bad": 0}
    if validate is not None:
        best["state"] = copy.deepcopy(model.state_dict())
    if ckpt_path and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        if ck.get("fp") == fp and "model" in ck and "step" in ck:  # (checkpoints of an earlier format: ignored)
            model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(ck["scheduler"])
            rng.load(ck["rng"])
            start, gstep, history, best = ck["epoch"] + 1, ck["step"], ck["history"], ck["best"]
            resume = ck.get("in_epoch")
            if resume:
                log.info("%sresuming from %s at step %d of epoch %d", tag, ckpt_path, resume["done"], start)
            elif validate is not None:
                log.info("%sresuming from %s after epoch %d (best %.5f at epoch %d)", tag, ckpt_path, ck["epoch"],
                         best["score"], best["epoch"])
            else:
                log.info("%sresuming from %s after epoch %d", tag, ckpt_path, ck["epoch"])
        else:
            log.warning("%signoring checkpoint %s: it belongs to another config or data (%s != %s)", tag, ckpt_path,
                        ck.get("fp"), fp)

    def scored():
        out = validate()
        return out if isinstance(out, tuple) else (out, {})

    def save(epoch_done: int, in_epoch: dict | None) -> None:
        # a kill mid-save leaves the previous checkpoint
        save_atomic({"fp": fp, "epoch": epoch_done, "step": gstep, "in_epoch": in_epoch, "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "rng": rng.state(), "history": history, "best": best,
                     "scheduler": scheduler.state_dict() if scheduler is not None else None}, ckpt_path)

    fresh = start == 1 and resume is None
    if fresh and validate is not None and validate_first:
        model.eval()
        score, extra = scored()
        history.append({"epoch": 0, "loss": None, "valid": score, "seconds": 0.0, **extra})
        best = {"score": score, "epoch": 0, "state": copy.deepcopy(model.state_dict()), "bad": 0}
        log.info("%sepoch 0: valid %.5f", tag, score)
    if fresh and on_step is not None:
        on_step(0)

    done_here, t_run, steps_here = 0, time.perf_counter(), 0
    for epoch in range(start, max_epochs + 1):
        if validate is not None and ((epoch - best["epoch"] > patience) if patience_mode == "since_best"
                                     else (best["bad"] >= patience)):
            break
        if max_steps and gstep >= max_steps:
            break
        t0 = t_saved = time.perf_counter()
        model.train()
        if resume is not None:  # mid-epoch: the saved batches (the rng has already drawn them) and sums
            plan, b0, sums = resume["batches"], resume["done"], resume["sums"]
            resume = None
        else:
            plan, b0, sums = list(batches(epoch)), 0, {"loss": 0.0, "weight": 0}
            if max_steps:
                plan = plan[: max_steps - gstep]
        total_steps = max_steps or max_epochs * len(plan)
        for b in range(b0, len(plan)):
            out = step(plan[b])
            sums["loss"], sums["weight"] = sums["loss"] + out[0], sums["weight"] + out[1]
            for k, v in (out[2] if len(out) > 2 else {}).items():
                sums[k] = sums.get(k, 0) + v
            gstep, steps_here = gstep + 1, steps_here + 1
            if log_every and (gstep % log_every == 0 or b + 1 == len(plan)):
                el = time.perf_counter() - t0
                log.info("%sstep %d/%d (epoch %d, batch %d/%d): loss %.4f, lr %.3g, %.1fs, ETA %.0fs", tag, gstep,
                         total_steps, epoch, b + 1, len(plan), sums["loss"] / max(sums["weight"], 1),
                         optimizer.param_groups[0]["lr"], el,
                         (time.perf_counter() - t_run) / steps_here * max(total_steps - gstep, 0))
            if ckpt_path and b + 1 < len(plan) and (every_steps and (b + 1) % every_steps == 0
                                                    or every_secs and time.perf_counter() - t_saved >= every_secs):
                save(epoch - 1, {"done": b + 1, "batches": plan, "sums": sums})
                t_saved = time.perf_counter()
            if on_step is not None:
                on_step(gstep)
        loss = sums["loss"] / max(sums["weight"], 1)
        entry = {"epoch": epoch, "loss": loss, "steps": len(plan)}
        entry.update({k: v for k, v in sums.items() if k not in ("loss", "weight")})
        model.eval()
        improved = False
        if validate is not None:
            score, extra = scored()
            improved = score > best["score"]
            if improved:
                best = {"score": score, "epoch": epoch, "state": copy.deepcopy(model.state_dict()), "bad": best["bad"]}
            else:
                best["bad"] += 1
            entry.update(valid=score, **extra)
        if after_epoch is not None:
            after_epoch(epoch, improved)
        secs = time.perf_counter() - t0
        history.append({**entry, "seconds": round(secs, 3), "lr": optimizer.param_groups[0]["lr"]})
        done_here += 1
        eta = (max_epochs - epoch) * (time.perf_counter() - t_run) / done_here
        if validate is not None:
            log.info("%sepoch %d/%d: loss %.5f valid %.5f (best %.5f at %d) %.1fs, ETA <= %.0fs (max_epochs)", tag,
                     epoch, max_epochs, loss, entry["valid"], best["score"], best["epoch"], secs, eta)
        else:
            log.info("%sepoch %d: mean loss %.4f, %.1fs", tag, epoch, loss, secs)
        if ckpt_path:
            save(epoch, None)
        if stop_after is not None and done_here >= stop_after:
            raise Interrupted(f"{tag}stopped after {done_here} epochs (stop_after)")
    model.eval()
    if validate is None:
        return model.state_dict(), history
    model.load_state_dict(best["state"])
    return best["state"], history
