"""Process-level helpers every stage shares: the one checkpoint writer, peak memory, the device.

Kept at the package root and free of imports from the stages, so `llm/`, `train/`, `explain/`
and the baselines use the same code without importing each other."""

from __future__ import annotations

import os
import resource
from pathlib import Path


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


def save_model(module, path, **meta) -> Path:
    """A trained module's file: its config (`module.cfg.to_dict()`), its weights and `meta`, written
    atomically; load_model reads it back."""
    return save_atomic({"config": module.cfg.to_dict(), "state_dict": module.state_dict(), **meta}, path)


def load_model(path, build, what: str, device: str = "cpu"):
    """-> (build(saved config) with the saved weights, in eval mode on `device`; the file's dict). A
    missing file is an error naming it and the target that makes it."""
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no trained {what} here (run: snakemake {path})")
    ck = torch.load(path, weights_only=False, map_location="cpu")
    module = build(ck["config"])
    module.load_state_dict(ck["state_dict"])
    return module.to(device).eval(), ck


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def host_info() -> dict:
    """The machine a job ran on, as its cost record keeps it: CPU model, cores, the vector ISA that
    torch's own CPU kernels dispatch to, and MKL's (MKL_CBWR when set). Both change float results: on
    one machine, 20 PETER steps and one SmolLM2 forward gave other bits under ATEN_CPU_CAPABILITY=avx2
    or MKL_CBWR=AVX2 than by default (README, "Reproducibility")."""
    import platform

    import torch

    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        pass
    return {"cpu": cpu or platform.processor() or platform.machine() or "unknown", "cores": os.cpu_count(),
            "kernels": torch.backends.cpu.get_cpu_capability(), "mkl_cbwr": os.environ.get("MKL_CBWR", "auto"),
            "torch": torch.__version__}


def cost_record(stage: str, device: str, t_all: float, rate: tuple[str, str, str] | None = None, **fields) -> dict:
    """The one cost record (a job's cost.json; Table 5 reads them): stage, device, wall seconds since
    `t_all` (a perf_counter reading at the job's start), the job's own fields, peak memory, the host
    (host_info), and rate = (count key, seconds key, name) for a throughput (e.g. tokens per training
    second)."""
    import time

    import torch

    out = {"stage": stage, "device": device, "wall_seconds": round(time.perf_counter() - t_all, 2), **fields,
           "peak_rss_mb": round(peak_rss_mb(), 1),
           "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if str(device).startswith("cuda") else None,
           "host": host_info()}
    if rate is not None:
        count, secs, name = rate
        out[name] = round(fields[count] / max(fields[secs], 1e-9), 1)
    return out


def resolve_device(device: str, key: str = "llm.device") -> str:
    """auto -> cuda when available, else cpu; a cuda device that is absent is an error naming the
    config key it came from."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"config key {key}={device!r}, but no CUDA device is available")
    return device
