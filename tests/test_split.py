import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seller_core.data.kcore import kcore_mask
from seller_core.data.split import assign_splits, dedupe_first, filter_and_split, history_lists
from seller_core.errors import BadInputError


def test_kcore_is_iterative():
    # k=2: u3 has 1 interaction -> removed; then item c drops to 1 -> removed; then u2 drops to 1 -> removed.
    user = np.array([1, 1, 2, 2, 3, 4, 4])
    item = np.array([0, 1, 0, 2, 2, 0, 1])
    keep, rounds = kcore_mask(user, item, k=2, sides="both")
    assert keep.tolist() == [True, True, False, False, False, True, True]
    assert rounds[0] == {"interactions": 7, "users": 4, "items": 3} and rounds[-1]["interactions"] == 4
    assert len(rounds) == 5  # three peeling rounds, then one that changes nothing
    keep, _ = kcore_mask(user, item, k=2, sides="users")
    assert keep.sum() == 6  # only u3 goes: items are not judged
    keep, _ = kcore_mask(user, item, k=3, sides="items")
    assert keep.tolist() == [True, False, True, False, False, True, False]  # only item 0 has 3
    with pytest.raises(ValueError):
        kcore_mask(user, item, k=2, sides="everyone")


def test_global_time_split_cuts_at_quantiles():
    user = np.repeat(np.arange(10), 10)
    ts = np.arange(100)[::-1].reshape(10, 10)[:, ::-1].ravel()  # all distinct
    label, info = assign_splits(user, ts, "global_time", [0.8, 0.1, 0.1])
    assert (label == 0).sum() == 80 and (label == 1).sum() == 10 and (label == 2).sum() == 10
    assert ts[label == 0].max() < ts[label == 1].min() <= ts[label == 1].max() < ts[label == 2].min()
    assert info["train_until"] == ts[label == 0].max()


def test_per_user_split():
    user = np.repeat([0, 1], [10, 20])
    label, _ = assign_splits(user, np.arange(30), "per_user", [8, 1, 1])
    assert label[:10].tolist() == [0] * 8 + [1, 2]
    assert label[10:].tolist() == [0] * 16 + [1, 1, 2, 2]


def test_history_lists_are_strictly_earlier_same_user_and_capped():
    user = np.array([0, 0, 0, 0, 1, 1])
    item = np.array([10, 11, 12, 13, 20, 21])
    hist = history_lists(user, item, np.array([1, 3, 5]), max_history=2).to_pylist()
    assert hist == [[10], [11, 12], [20]]


def _write_inputs(tmp_path, n_users=40, n_items=30, per_user=15, seed=0, late_users=0):
    """Random interactions over times 0..10k; the last `late_users` users only act after t=9,000
    (after the 80% cut), so they have no training interactions."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, per_user, replace=False)
        low = 9_000 if u >= n_users - late_users else 0
        times = np.sort(rng.choice(np.arange(low, 10_000), per_user, replace=False)) + u
        rows += [(f"user{u:03d}", f"item{i:03d}", int(t)) for i, t in zip(items, times)]
    inter = pa.table({"raw_user_id": [r[0] for r in rows], "raw_item_id": [r[1] for r in rows],
                      "timestamp": pa.array([r[2] for r in rows], pa.int64())})
    items = pa.table({"raw_item_id": [f"item{i:03d}" for i in range(n_items)], "name": ["n"] * n_items,
                      "categories": [[f"c{i % 5}", f"c{i % 7 + 5}"] for i in range(n_items)],
                      "description": ["d"] * n_items})
    pq.write_table(inter, tmp_path / "inter_raw.parquet")
    pq.write_table(items, tmp_path / "items_raw.parquet")
    names = ["interactions", "item_table", "users", "samples_train", "samples_valid", "samples_test"]
    out = {n: tmp_path / f"{n}.parquet" for n in names}
    out["stats"] = tmp_path / "stats.json"
    return out


SPLIT = dict(dedupe="first", kcore={"k": 5, "sides": "both"}, split={"mode": "global_time", "ratios": [0.8, 0.1, 0.1]},
             max_history=5, cold_start="drop", test_subsample="all", seed=0)


def test_filter_and_split_contract(tmp_path):
    out = _write_inputs(tmp_path)
    stats = filter_and_split(tmp_path / "inter_raw.parquet", tmp_path / "items_raw.parquet", out, **SPLIT)
    inter = pq.read_table(out["interactions"]).to_pandas()
    items = pq.read_table(out["item_table"]).to_pandas()
    assert items["item_id"].tolist() == list(range(len(items)))
    assert inter["user_id"].max() + 1 == stats["users"] == pq.read_table(out["users"]).num_rows
    assert (inter.groupby("user_id")["timestamp"].apply(lambda s: s.is_monotonic_increasing)).all()
    train_items = set(inter.loc[inter.split == "train", "item_id"])
    train_users = set(inter.loc[inter.split == "train", "user_id"])
    for split in ("train", "valid", "test"):
        samples = pq.read_table(out[f"samples_{split}"]).to_pylist()
        assert samples and all(s["split"] == split for s in samples)
        for s in samples[:200]:
            row = inter.iloc[s["sample_id"]]
            assert (row.user_id, row.item_id, row.timestamp) == (s["user_id"], s["item_id"], s["timestamp"])
            earlier = inter[(inter.user_id == s["user_id"]) & (inter.index < s["sample_id"])]
            assert s["history"] == earlier["item_id"].tolist()[-5:] and 1 <= len(s["history"]) <= 5
            assert (earlier["timestamp"] <= s["timestamp"]).all()
            if split != "train":
                assert s["user_id"] in train_users and s["item_id"] in train_items
    saved = json.loads(out["stats"].read_text())
    assert saved["samples"]["test"]["samples"] == pq.read_table(out["samples_test"]).num_rows


def test_test_subsample_is_seeded(tmp_path):
    out = _write_inputs(tmp_path)
    args = (tmp_path / "inter_raw.parquet", tmp_path / "items_raw.parquet", out)
    full = filter_and_split(*args, **SPLIT)["samples"]["test"]["samples"]
    ids = []
    for seed in (1, 1, 2):
        filter_and_split(*args, **{**SPLIT, "test_subsample": 20, "seed": seed})
        ids.append(pq.read_table(out["samples_test"])["sample_id"].to_pylist())
    assert full > 20 and len(ids[0]) == 20 and ids[0] == sorted(ids[0])
    assert ids[0] == ids[1] and ids[0] != ids[2]


def test_cold_start_keep_keeps_more(tmp_path):
    out = _write_inputs(tmp_path, n_users=60, per_user=8, late_users=5)
    args = (tmp_path / "inter_raw.parquet", tmp_path / "items_raw.parquet", out)
    dropped = filter_and_split(*args, **SPLIT)["samples"]["test"]
    kept = filter_and_split(*args, **{**SPLIT, "cold_start": "keep"})["samples"]["test"]
    assert dropped["cold_start"] > 0 and kept["samples"] == dropped["samples"] + dropped["cold_start"]


def test_empty_after_filtering_is_a_clear_error(tmp_path):
    out = _write_inputs(tmp_path)
    with pytest.raises(BadInputError, match="no interactions left after 50-core"):
        filter_and_split(tmp_path / "inter_raw.parquet", tmp_path / "items_raw.parquet", out,
                         **{**SPLIT, "kcore": {"k": 50, "sides": "both"}})


def test_dedupe_first_keeps_earliest_of_each_pair():
    user = np.array([0, 0, 0, 1, 1])
    item = np.array([5, 5, 6, 5, 5])
    ts = np.array([30, 10, 20, 7, 7])
    u, i, t = dedupe_first(user, item, ts)
    assert sorted(zip(u.tolist(), i.tolist(), t.tolist())) == [(0, 5, 10), (0, 6, 20), (1, 5, 7)]


def test_repeats_and_items_without_metadata_are_dropped_and_counted(tmp_path):
    out = _write_inputs(tmp_path)
    inter = pq.read_table(tmp_path / "inter_raw.parquet")
    first = inter.slice(0, 1).to_pylist()[0]  # a later repeat of an existing pair
    extra = pa.table({"raw_user_id": ["user000", first["raw_user_id"]], "raw_item_id": ["not-an-item", first["raw_item_id"]],
                      "timestamp": pa.array([5, first["timestamp"] + 1], pa.int64())})
    pq.write_table(pa.concat_tables([inter, extra]), tmp_path / "inter_raw.parquet")
    args = (tmp_path / "inter_raw.parquet", tmp_path / "items_raw.parquet", out)
    stats = filter_and_split(*args, **SPLIT)
    assert stats["dropped_item_without_metadata"] == 1
    assert stats["dropped_repeat_pairs"] == 1  # the generated pairs are distinct
    assert "not-an-item" not in pq.read_table(out["interactions"])["raw_item_id"].to_pylist()
    kept = filter_and_split(*args, **{**SPLIT, "dedupe": "none"})
    assert kept["interactions"] == stats["interactions"] + 1 and "dropped_repeat_pairs" not in kept
