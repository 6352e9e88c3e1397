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
# the statistics on per-case ranks live in stats (numpy only, so table rules need no torch); these
# names stay importable from here
from seller_core.eval.stats import (  # noqa: F401
    bootstrap_ci, compare, compare_runs, metric_names, metrics_from_ranks, over_seeds, paired_bootstrap, per_case,
    summarize,
)


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
