"""The generative model behind the synthetic dumps: a popularity-biased world of items grouped in
interest units on a ring, users who drift along it, and per-user event times.

- Interest units sit on a ring (the writers decide what a unit is: a Yelp leaf category, a
  KuaiRec second-level category, ordered so that ring neighbours are related). With few items, a
  subset of units evenly spaced along the ring is used (about `items / items_per_unit` units), so
  neighbouring units stay related.
- Every item has one primary unit. Item popularity is Zipf-like, w = rank^-a over a random
  ranking of all items (a = `popularity_exponent`, 0.6 by default; lower is flatter, so fewer
  items fall out of a k-core); units are as popular as the sum of their items' weights.
- Each user walks a Markov chain over units: at each event stay with probability 0.62, step to a
  ring neighbour (+1 or -1) with 0.32, jump with 0.06 (to a popularity-weighted unit; the first
  unit is drawn the same way). The event's item is drawn within the current unit proportionally
  to w (a repeat of an item the user already had is redrawn once). So the next item depends on
  the recent ones (sequence models beat static ones), popular items dominate (most-popular is a
  real baseline), and the target's categories are predictable from the history's.
- Noise events, a `noise` share of each user's events, ignore the walk: the item is drawn from
  global popularity (the writers give them negative feedback, which the positive rule drops).
- Units have even sizes (Dirichlet(30) shares of the items: most within +-20 % of the mean), and
  popularity is flat by default, so a k-core loses few items and keeps the tail.
- Events per user: a floor of 0.7x the mean plus a Gamma(2) tail (few users fall below a k-core). Times are strictly increasing
  per user, inside a per-user activity window placed uniformly in the dataset's time span.

Every draw comes from the numpy Generator it is given: the writers seed one per chunk of users
from `seed` and the chunk index, so the same arguments give byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POPULARITY_EXPONENT = 0.6  # default of the synthetic config key popularity_exponent
P_STAY, P_STEP, P_JUMP = 0.62, 0.32, 0.06
DEFAULT_ITEMS_PER_UNIT = 12  # about this many items per interest unit (a synthetic config key)
MIN_EVENTS_SHARE = 0.7  # a user has at least this share of the mean number of events
UNIT_SIZE_CONCENTRATION = 30.0  # Dirichlet concentration of unit sizes: most within +-20 % of the mean


@dataclass
class _World:
    n_units: int
    item_unit: np.ndarray  # primary unit of each item
    order: np.ndarray  # item ids sorted by unit
    cum_w: np.ndarray  # inclusive cumulative popularity along `order`
    unit_lo: np.ndarray  # cumulative weight before each unit's first item
    unit_hi: np.ndarray  # cumulative weight after each unit's last item
    unit_first: np.ndarray  # index in `order` of each unit's first item
    unit_last: np.ndarray
    unit_p: np.ndarray  # jump probabilities
    global_cum: np.ndarray  # inclusive cumulative popularity over item ids (noise draws)


def _build_world(rng: np.random.Generator, n_units: int, n_items: int,
                 popularity_exponent: float = POPULARITY_EXPONENT) -> _World:
    # every unit gets an item; the rest go to units of uneven size
    sizes = np.ones(n_units, dtype=np.int64)
    sizes += rng.multinomial(n_items - n_units, rng.dirichlet(np.full(n_units, UNIT_SIZE_CONCENTRATION)))
    item_unit = rng.permutation(np.repeat(np.arange(n_units), sizes))
    weight = (rng.permutation(n_items) + 1.0) ** -popularity_exponent
    order = np.argsort(item_unit, kind="stable")
    cum_w = np.cumsum(weight[order])
    unit_last = np.cumsum(sizes) - 1
    unit_first = unit_last - sizes + 1
    unit_hi = cum_w[unit_last]
    unit_lo = np.concatenate([[0.0], unit_hi[:-1]])
    unit_p = (unit_hi - unit_lo) / cum_w[-1]
    return _World(n_units, item_unit, order, cum_w, unit_lo, unit_hi, unit_first, unit_last, unit_p,
                  np.cumsum(weight))


def _spread(n_total: int, n_wanted: int) -> np.ndarray:
    """Indices of n_wanted units evenly spaced along a ring of n_total (all when n_wanted >= n_total)."""
    if n_wanted >= n_total:
        return np.arange(n_total)
    return np.floor(np.arange(n_wanted) * (n_total / n_wanted)).astype(np.int64)


def _n_units(n_items: int, n_available: int, items_per_unit: float = DEFAULT_ITEMS_PER_UNIT) -> int:
    return int(max(1, min(n_available, n_items, round(n_items / items_per_unit))))


def _events_per_user(rng, n_users: int, mean: float) -> np.ndarray:
    floor = max(1, int(round(MIN_EVENTS_SHARE * mean)))
    tail = max(mean - floor, 0.0)
    extra = np.floor(rng.gamma(2.0, tail / 2.0, size=n_users)) if tail > 0 else np.zeros(n_users)
    return (floor + extra).astype(np.int64)


@dataclass
class _Events:
    user: np.ndarray  # chunk-local user index, non-decreasing
    rank: np.ndarray  # position within the user's sequence
    unit: np.ndarray
    item: np.ndarray
    noise: np.ndarray  # bool


def _walk(rng, world: _World, lengths: np.ndarray, noise_share: float) -> _Events:
    n = int(lengths.sum())
    user = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rank = np.arange(n) - np.repeat(starts, lengths)

    u = rng.random(n)
    jump = (rank == 0) | (u < P_JUMP)
    delta = np.where(u < P_JUMP + P_STEP / 2, 1, np.where(u < P_JUMP + P_STEP, -1, 0))
    delta[jump] = 0
    anchor = np.zeros(n, dtype=np.int64)
    anchor[jump] = rng.choice(world.n_units, size=int(jump.sum()), p=world.unit_p)
    last_jump = np.maximum.accumulate(np.where(jump, np.arange(n), 0))
    cum = np.cumsum(delta)
    unit = (anchor[last_jump] + cum - cum[last_jump]) % world.n_units

    item = _draw_in_unit(rng, world, unit)
    # a repeat of an item the user already had gets one redraw (repeats stay possible, as in Yelp)
    key = user * np.int64(len(world.item_unit)) + item
    _, first = np.unique(key, return_index=True)
    repeat = np.ones(n, dtype=bool)
    repeat[first] = False
    item[repeat] = _draw_in_unit(rng, world, unit[repeat])

    noise = rng.random(n) < noise_share
    noise_items = np.searchsorted(world.global_cum, rng.random(int(noise.sum())) * world.global_cum[-1], side="right")
    item[noise] = np.minimum(noise_items, len(world.item_unit) - 1)
    return _Events(user, rank, unit, item, noise)


def _draw_in_unit(rng, world: _World, unit: np.ndarray) -> np.ndarray:
    lo, hi = world.unit_lo[unit], world.unit_hi[unit]
    pos = np.searchsorted(world.cum_w, lo + rng.random(len(unit)) * (hi - lo), side="right")
    pos = np.clip(pos, world.unit_first[unit], world.unit_last[unit])
    return world.order[pos]


def _event_times(rng, ev: _Events, lengths: np.ndarray, start: int, end: int, window: tuple[float, float],
                 tick: int) -> np.ndarray:
    """Strictly increasing integer times (in `tick` units) per user, inside a per-user window."""
    n_users = len(lengths)
    span = end - start
    frac = rng.uniform(*window, size=n_users)
    dur = np.maximum((frac * span).astype(np.int64), lengths * tick + 1)
    begin = start + (rng.random(n_users) * np.maximum(span - dur, 0)).astype(np.int64)
    # sorted uniforms within each user: offset by user index, sort, remove the offset
    u = np.sort(ev.user + rng.random(len(ev.user))) - ev.user
    free = dur[ev.user] - lengths[ev.user] * tick
    # floor keeps order, + rank makes it strict
    return begin[ev.user] + (u * free).astype(np.int64) // tick * tick + ev.rank * tick

