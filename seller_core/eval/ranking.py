"""Full-ranking evaluation shared by every recommender stage.

Protocol (docs/recommender.md):
- every real item is a candidate (never sampled negatives); the padding row is not an item;
- history masking is optional (default off: RecBole's sequential full-sort does not mask);
- ties are pessimistic: rank = 1 + number of OTHER candidates scoring >= the target, so a model
  that scores everything equal gets the worst rank, not the best (pmixer/SASRec.pytorch#43);
- one target per case: Recall@K = hit@K, NDCG@K = 1/log2(rank + 1) if rank <= K else 0;
- per-case ranks are returned so that tables can carry bootstrap CIs and paired comparisons.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from seller_core.data import sequences


def ranks_from_scores(scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None):
    """scores: (B, N) over all candidates; targets: (B,) candidate indices; exclude: optional (B, N)
    bool, True = not a candidate (the target itself is never excluded) -> (B,) int64 ranks, 1 = best."""
    if scores.dim() != 2 or targets.shape != (scores.shape[0],):
        raise ValueError(f"scores must be (B, N) and targets (B,), got {tuple(scores.shape)} and {tuple(targets.shape)}")
    if torch.isnan(scores).any():
        raise ValueError("NaN in scores: cannot rank")
    t = scores.gather(1, targets[:, None])  # (B, 1)
    ge = scores >= t  # (B, N); the target counts itself once
    if exclude is not None:
        exclude = exclude.clone()
        exclude[torch.arange(len(targets)), targets] = False
        ge &= ~exclude
    return ge.sum(1).to(torch.int64)  # 1 + number of other candidates with score >= target


def history_mask(histories: Sequence[Sequence[int]], n_items: int) -> torch.Tensor:
    """(B, n_items) bool, True where the item is in the case's history (dense ids)."""
    mask = torch.zeros(len(histories), n_items, dtype=torch.bool)
    rows = [i for i, h in enumerate(histories) for _ in h]
    cols = [j for h in histories for j in h]
    if rows:
        mask[torch.as_tensor(rows), torch.as_tensor(cols)] = True
    return mask


def rank_cases(
    score_batch: Callable[[slice], torch.Tensor],
    targets: np.ndarray,
    n_items: int,
    histories: Sequence[Sequence[int]] | None = None,
    mask_history: bool = False,
    batch_size: int = 512,
) -> np.ndarray:
    """Ranks of every case, scoring `batch_size` cases at a time: score_batch(slice) -> (b, n_items)."""
    targets = np.asarray(targets, dtype=np.int64)
    if len(targets) and (targets.min() < 0 or targets.max() >= n_items):
        raise ValueError(f"target ids must lie in [0, {n_items}), got [{targets.min()}, {targets.max()}]")
    if mask_history and histories is None:
        raise ValueError("mask_history needs the histories")
    out = np.empty(len(targets), dtype=np.int64)
    with torch.inference_mode():
        for start in range(0, len(targets), batch_size):
            sl = slice(start, min(start + batch_size, len(targets)))
            scores = score_batch(sl)
            if scores.shape != (sl.stop - sl.start, n_items):
                raise ValueError(f"score_batch returned {tuple(scores.shape)}, expected ({sl.stop - sl.start}, {n_items})")
            exclude = history_mask(histories[sl], n_items) if mask_history else None
            out[sl] = ranks_from_scores(scores, torch.tensor(targets[sl]), exclude).numpy()
    return out


def model_ranks(model, samples, n_items: int, eval_cfg: dict, cond: np.ndarray | None = None) -> np.ndarray:
    """Full-ranking ranks of each sample's target given its history, for any sequential model with
    `max_len`, `user_vector(hist[, cond])` and `score_all(h)` (SASRec; the EER, whose `cond` is the
    (S, e_dim) explanation embedding row-aligned with `samples`)."""
    hist, _ = sequences.histories_tensor(samples["history"].tolist(), model.max_len)
    hist = torch.from_numpy(hist)
    cond_t = None if cond is None else torch.from_numpy(np.ascontiguousarray(cond, dtype=np.float32))
    model.eval()

    def score(sl):
        h = hist[sl]
        T = max(1, int((h != 0).sum(1).max()))  # trim shared left padding: same scores, less work
        args = (h[:, -T:],) if cond_t is None else (h[:, -T:], cond_t[sl])
        return model.score_all(model.user_vector(*args))

    return rank_cases(
        score, samples["item_id"].to_numpy(), n_items, samples["history"].tolist(),
        eval_cfg["mask_history"], eval_cfg["batch_size"],
    )


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
