"""Statistics on per-case results: metrics from full-ranking ranks, percentile-bootstrap CIs, paired
bootstrap tests, and aggregation over seeds. numpy, pandas and pyarrow only: the table rules use it without torch."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seller_core.data import stage_io
from seller_core.data.io import write_json
from seller_core.errors import BadInputError


def per_case(ranks: np.ndarray, metric: str) -> np.ndarray:
    """Per-case value of 'recall@K' or 'ndcg@K' from ranks (1 = best)."""
    name, _, k = metric.partition("@")
    k = int(k)
    ranks = np.asarray(ranks, dtype=np.float64)
    hit = ranks <= k
    if name == "recall":
        return hit.astype(np.float64)
    if name == "ndcg":
        return np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0)
    raise ValueError(f"unknown metric {metric!r} (recall@K or ndcg@K)")


def metric_names(ks: Sequence[int]) -> list[str]:
    return [f"{m}@{k}" for m in ("recall", "ndcg") for k in ks]


def metrics_from_ranks(ranks: np.ndarray, ks: Sequence[int] = (5, 10)) -> dict[str, float]:
    return {m: float(per_case(ranks, m).mean()) for m in metric_names(ks)}


def _boot_means(values: np.ndarray, n_boot: int, seed: int, chunk: int = 500) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(values)
    means = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        means.append(values[idx].mean(1))
    return np.concatenate(means)


def bootstrap_ci(values, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> dict:
    """Percentile bootstrap CI of the mean of per-case values."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        raise ValueError("bootstrap of an empty sample")
    means = _boot_means(values, n_boot, seed)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return {"mean": float(values.mean()), "lo": float(lo), "hi": float(hi), "level": 1 - alpha, "n_boot": n_boot}


def paired_bootstrap(a, b, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> dict:
    """CI of mean(a - b) over cases resampled in pairs; `excludes_zero` says whether the
    difference is significant at this level. p is the two-sided bootstrap p-value."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in size: {a.shape} vs {b.shape}")
    diff = a - b
    means = _boot_means(diff, n_boot, seed)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    p = min(1.0, 2 * min((means <= 0).mean(), (means >= 0).mean()))
    return {
        "diff": float(diff.mean()),
        "lo": float(lo),
        "hi": float(hi),
        "level": 1 - alpha,
        "n_boot": n_boot,
        "p_bootstrap": float(p),
        "excludes_zero": bool(lo > 0 or hi < 0),
    }


def summarize(ranks: np.ndarray, ks: Sequence[int], n_boot: int, seed: int, alpha: float) -> dict:
    """Metrics with bootstrap CIs, for a metrics JSON."""
    return {
        "n_cases": int(len(ranks)),
        "metrics": metrics_from_ranks(ranks, ks),
        "ci": {m: bootstrap_ci(per_case(ranks, m), n_boot, seed, alpha) for m in metric_names(ks)},
    }


def compare(ranks_a: np.ndarray, ranks_b: np.ndarray, ks: Sequence[int], n_boot: int, seed: int, alpha: float) -> dict:
    """Paired bootstrap of a - b for every metric; the cases must be the same, in the same order."""
    return compare_runs([ranks_a], [ranks_b], ks, n_boot, seed, alpha)


def compare_runs(runs_a, runs_b, ks: Sequence[int], n_boot: int, seed: int, alpha: float) -> dict:
    """Paired bootstrap of a - b for every metric, each side's per-case values averaged over its runs
    (one per seed; a control has one): the test asks whether a beats b on these cases whatever the
    seed, not whether one lucky seed does."""
    return {m: paired_bootstrap(np.mean([per_case(r, m) for r in runs_a], axis=0),
                                np.mean([per_case(r, m) for r in runs_b], axis=0), n_boot, seed, alpha)
            for m in metric_names(ks)}


def over_seeds(values: dict, n_boot: int, seed: int, alpha: float) -> dict:
    """values: {metric: (n_runs, n_cases) per-case values of each seed's run, cases aligned}. Returns the
    mean, the standard deviation over seeds of each run's mean (None for one run), and a percentile
    bootstrap CI over test cases of the seed-averaged per-case values (for one run: exactly
    bootstrap_ci of that run)."""
    out = {"n_seeds": None, "metrics": {}, "std": {}, "ci": {}, "per_seed": {}}
    for name, v in values.items():
        v = np.atleast_2d(np.asarray(v, dtype=np.float64))
        run_means = v.mean(1)
        out["n_seeds"] = len(run_means)
        out["metrics"][name] = float(run_means.mean())
        out["std"][name] = float(run_means.std(ddof=1)) if len(run_means) > 1 else None
        out["ci"][name] = bootstrap_ci(v.mean(0), n_boot, seed, alpha)
        out["per_seed"][name] = [float(x) for x in run_means]
    return out


def aligned_ranks(paths) -> tuple:
    """(sample ids, [ranks of each file in that order]): the ranks files of one method's runs, which
    must hold the same test cases (any order)."""
    tables = [stage_io.read_parquet(p, ["sample_id", "rank"]) for p in paths]
    ids = tables[0]["sample_id"].to_numpy()
    out = []
    for p, t in zip(paths, tables):
        if len(t) != len(ids) or not np.array_equal(np.sort(t["sample_id"].to_numpy()), np.sort(ids)):
            raise BadInputError(p, f"cases differ from {paths[0]}: {len(t)} vs {len(ids)} rows")
        out.append(t.set_index("sample_id")["rank"].reindex(ids).to_numpy())  # in the first file's order
    return ids, out


def compare_utility(ranks_a, ranks_b, out_json, a: str, b: str, eval_cfg: dict) -> None:
    """Rule compare_utility: paired bootstrap of method a minus method b, case by case. ranks_a / ranks_b:
    one ranks file, or one per seed's run of the method (per-case values are averaged over runs)."""
    runs_a = [ranks_a] if isinstance(ranks_a, (str, bytes)) or not hasattr(ranks_a, "__iter__") else list(ranks_a)
    runs_b = [ranks_b] if isinstance(ranks_b, (str, bytes)) or not hasattr(ranks_b, "__iter__") else list(ranks_b)
    ra, rb = aligned_ranks(runs_a), aligned_ranks(runs_a[:1] + runs_b)  # b in a's case order
    rb = (rb[0], rb[1][1:])
    bs, ks = eval_cfg["bootstrap"], eval_cfg["ks"]
    write_json(
        {"a": a, "b": b, "n_cases": int(len(ra[0])), "a_runs": len(runs_a), "b_runs": len(runs_b),
         "a_metrics": over_seeds({m: [per_case(r, m) for r in ra[1]] for m in metric_names(ks)},
                               bs["n"], bs["seed"], bs["alpha"])["metrics"],
         "b_metrics": over_seeds({m: [per_case(r, m) for r in rb[1]] for m in metric_names(ks)},
                               bs["n"], bs["seed"], bs["alpha"])["metrics"],
         "a_minus_b": compare_runs(ra[1], rb[1], ks, bs["n"], bs["seed"], bs["alpha"])},
        out_json,
    )
