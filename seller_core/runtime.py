"""Process-level helpers every stage shares: the one checkpoint writer, peak memory, the device.

Kept at the package root and free of imports from the stages, so `llm/`, `train/`, `explain/`
and the baselines use the same code without importing each other."""

from __future__ import annotations

import os
import resource
from pathlib import Path

# Keys a trainer's settings may carry that never change its weights (progress lines, checkpoint
# frequency): the rules pass them untracked, and no fingerprint includes them, so a run resumed
# with other values still finds its checkpoint.
RUN_CONTROL_KEYS = ("log_every", "checkpoint")


def save_atomic(obj, path) -> Path:
    """torch.save `obj` to `path` so that a kill at any moment leaves either the previous file or
    the new one, never a torn one: write `<name>.tmp` beside it, fsync, rename over it (POSIX
    rename is atomic on one file system). Every checkpoint and trained-model file goes through here."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())  # the rename must not reach the disk before the bytes do
    os.replace(tmp, path)
    return path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def resolve_device(device: str, key: str = "llm.device") -> str:
    """auto -> cuda when available, else cpu; a cuda device that is absent is an error naming the
    config key it came from."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"config key {key}={device!r}, but no CUDA device is available")
    return device
