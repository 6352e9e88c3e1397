"""Epoch loop with early stopping on a validation score and a resumable per-epoch checkpoint.

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
    train_epoch: Callable[[int], float],
    validate: Callable[[], float],
    rng: RNG,
    *,
    max_epochs: int,
    patience: int,
    ckpt_path: str | os.PathLike | None,
    fp: str,
    stop_after: int | None = None,
) -> tuple[dict, list[dict]]:
    """Train until max_epochs or `patience` epochs without a better validation score.

    Returns (best state_dict, history). The score of epoch 0 (before any training) is recorded
    too, so a model that training does not improve is kept as it was. `stop_after` ends the
    call after that many epochs of this call (used by tests to simulate an interruption).
    """
    ckpt_path = Path(ckpt_path) if ckpt_path else None
    start, history = 1, []
    best = {"score": -np.inf, "epoch": -1, "state": None}
    if ckpt_path and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        if ck.get("fp") == fp:
            model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            rng.load(ck["rng"])
            start, history, best = ck["epoch"] + 1, ck["history"], ck["best"]
            log.info("resuming from %s after epoch %d (best %.5f at epoch %d)", ckpt_path, ck["epoch"], best["score"], best["epoch"])
        else:
            log.warning("ignoring checkpoint %s: it belongs to another config or data (%s != %s)", ckpt_path, ck.get("fp"), fp)
    if start == 1:
        score = validate()
        history.append({"epoch": 0, "loss": None, "valid": score, "seconds": 0.0})
        best = {"score": score, "epoch": 0, "state": copy.deepcopy(model.state_dict())}
        log.info("epoch 0: valid %.5f", score)

    done_here = 0
    for epoch in range(start, max_epochs + 1):
        if epoch - best["epoch"] > patience:
            break
        t0 = time.perf_counter()
        model.train()
        loss = train_epoch(epoch)
        model.eval()
        score = validate()
        secs = time.perf_counter() - t0
        history.append({"epoch": epoch, "loss": loss, "valid": score, "seconds": round(secs, 3)})
        if score > best["score"]:
            best = {"score": score, "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
        log.info("epoch %d: loss %.5f valid %.5f (best %.5f at %d) %.1fs", epoch, loss, score, best["score"], best["epoch"], secs)
        if ckpt_path:
            # a kill mid-save leaves the previous epoch's checkpoint
            save_atomic({"fp": fp, "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "rng": rng.state(), "history": history, "best": best}, ckpt_path)
        done_here += 1
        if stop_after is not None and done_here >= stop_after:
            raise Interrupted(f"stopped after {done_here} epochs (stop_after)")
    model.load_state_dict(best["state"])
    return best["state"], history
