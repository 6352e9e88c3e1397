"""Iterative k-core filtering of an interaction list, on integer codes with numpy.

Removing a sparse user can push an item below k and vice versa, so the filter repeats until
nothing changes; each round judges both sides on the same snapshot. `sides` picks which side must
reach k: "both" (the default, the paper's "10-core"), "users" or "items" (the paper's Yelp counts
are only consistent with a users-only core; see the README).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def _counts(user: np.ndarray, item: np.ndarray, keep: np.ndarray) -> dict:
    return {"interactions": int(keep.sum()), "users": int(np.count_nonzero(np.bincount(user[keep]))),
            "items": int(np.count_nonzero(np.bincount(item[keep])))}


def kcore_mask(user: np.ndarray, item: np.ndarray, k: int, sides: str = "both") -> tuple[np.ndarray, list[dict]]:
    """Rows of (user, item) codes that survive the k-core, and the counts before and after each round."""
    if sides not in ("both", "users", "items"):
        raise ValueError(f"kcore sides must be both, users or items, not {sides!r}")
    n_users = int(user.max()) + 1 if len(user) else 0
    n_items = int(item.max()) + 1 if len(item) else 0
    keep = np.ones(len(user), bool)
    rounds = [_counts(user, item, keep)]
    while True:
        ok = keep.copy()
        if sides in ("both", "users"):
            ok &= np.bincount(user[keep], minlength=n_users)[user] >= k
        if sides in ("both", "items"):
            ok &= np.bincount(item[keep], minlength=n_items)[item] >= k
        rounds.append(_counts(user, item, ok))
        log.info("k-core round %d: %s", len(rounds) - 1, rounds[-1])
        if rounds[-1]["interactions"] == rounds[-2]["interactions"]:
            return ok, rounds
        keep = ok
