import json

import numpy as np
import pandas as pd
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
    ts = np.array([1, 2, 3, 4, 1, 2])
    hist = history_lists(user, item, np.array([1, 3, 5]), max_history=2, ts=ts).to_pylist()
    assert hist == [[10], [11, 12], [20]]


def test_history_lists_never_hold_a_same_timestamp_interaction():
    # user 0: 10 at t=1, then 11 and 12 both at t=2 (a tie), then 13 at t=3; user 1: 20 and 21 tie at t=5
    user = np.array([0, 0, 0, 0, 1, 1])
    item = np.array([10, 11, 12, 13, 20, 21])
    ts = np.array([1, 2, 2, 3, 5, 5])
    hist = history_lists(user, item, np.arange(6), max_history=5, ts=ts).to_pylist()
    # 11 and 12 are not in each other's history, whichever row comes first; 13 sees both
    assert hist == [[], [10], [10], [10, 11, 12], [], []]
    hist = history_lists(user, item, np.array([3]), max_history=1, ts=ts).to_pylist()
    assert hist == [[12]]  # the cap keeps the last rows strictly before


def test_split_never_separates_a_tie():
    # global time: the cut is a timestamp, so every interaction at the cut's time is on one side
    user = np.repeat(np.arange(4), 5)
    ts = np.tile([10, 20, 30, 40, 50], 4)
    label, info = assign_splits(user, ts, "global_time", [0.8, 0.1, 0.1])
    for t in np.unique(ts):
        assert len(set(label[ts == t])) == 1
    assert info["train_until"] == 40 and (label[ts == 40] == 0).all()
    # per user: 10 rows, 8:1:1 would cut between rows 7 and 8, which tie -> both stay in train
    user = np.zeros(10, np.int64)
    ts = np.array([1, 2, 3, 4, 5, 6, 7, 8, 8, 9])
    label, _ = assign_splits(user, ts, "per_user", [8, 1, 1])
    assert label.tolist() == [0] * 7 + [0, 0, 2]
    ts = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 9])
    label, _ = assign_splits(user, ts, "per_user", [8, 1, 1])
    assert label.tolist() == [0] * 8 + [1, 1]


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
            earlier = inter[(inter.user_id == s["user_id"]) & (inter.timestamp < s["timestamp"])]
            assert s["history"] == earlier["item_id"].tolist()[-5:] and 1 <= len(s["history"]) <= 5
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


def _write_raw(tmp_path, rows, n_items=6):
    inter = pa.table({"raw_user_id": [r[0] for r in rows], "raw_item_id": [r[1] for r in rows],
                      "timestamp": pa.array([r[2] for r in rows], pa.int64())})
    items = pa.table({"raw_item_id": [f"i{i}" for i in range(n_items)], "name": ["n"] * n_items,
                      "categories": [[f"c{i}"] for i in range(n_items)], "description": ["d"] * n_items})
    pq.write_table(inter, tmp_path / "inter_raw.parquet")
    pq.write_table(items, tmp_path / "items_raw.parquet")
    out = {n: tmp_path / f"{n}.parquet" for n in ["interactions", "item_table", "users", "samples_train",
                                                  "samples_valid", "samples_test"]}
    out["stats"] = tmp_path / "stats.json"
    return (tmp_path / "inter_raw.parquet", tmp_path / "items_raw.parquet", out)


def test_same_timestamp_interactions_are_never_in_each_others_history(tmp_path):
    """Ties in the data: histories hold only strictly earlier interactions, a target whose earlier
    interactions all tie with it is no sample (and is counted), and a tie at the split boundary
    stays on one side of it."""
    rows = []
    for u in range(6):
        user = f"u{u}"
        # t=1000 twice (the user's first two interactions tie), then one a millisecond later, then
        # a tie at t=5000 (the 80th percentile: the train/valid boundary), then t=9000 and t=9001
        for item, t in [(0, 1000), (1, 1000), (2, 1001), (3, 5000), (4, 5000), (5, 9000 + u % 2)]:
            rows.append((user, f"i{item}", t + 0 * u))
    args = _write_raw(tmp_path, rows)
    stats = filter_and_split(*args, **{**SPLIT, "kcore": {"k": 1, "sides": "both"}, "cold_start": "keep"})
    out = args[2]
    inter = pq.read_table(out["interactions"]).to_pandas()
    # ties keep one split: both t=5000 rows of every user fall on the same side of the cut
    assert inter.groupby(["user_id", "timestamp"])["split"].nunique().max() == 1
    assert stats["split"]["train_until"] == 5000
    samples = pd.concat([pq.read_table(out[f"samples_{s}"]).to_pandas() for s in ("train", "valid", "test")])
    by_target = {(r.user_id, inter.loc[r.sample_id, "raw_item_id"]): list(r.history) for r in samples.itertuples()}
    item = {raw: i for raw, i in zip(inter["raw_item_id"], inter["item_id"])}
    for u in range(6):
        # the two t=1000 interactions: no strictly earlier one, so no sample; counted as tie-empty
        assert (u, "i0") not in by_target and (u, "i1") not in by_target
        assert by_target[(u, "i2")] == [item["i0"], item["i1"]]
        # the t=5000 pair: neither sees the other
        assert by_target[(u, "i3")] == by_target[(u, "i4")] == [item["i0"], item["i1"], item["i2"]]
        assert by_target[(u, "i5")] == [item[f"i{k}"] for k in range(5)]
    for s in samples.itertuples():
        hist_ts = inter.loc[(inter.user_id == s.user_id) & inter.item_id.isin(list(s.history)), "timestamp"]
        assert (hist_ts < s.timestamp).all()
    assert stats["samples"]["train"]["no_history"] == stats["samples"]["train"]["no_history_ties"] == 12
    assert stats["interactions_in_ties"] == 6 * 4


def test_ties_survive_kuairec_ingestion_to_the_millisecond(kuairec_files, tmp_path):
    """KuaiRec timestamps carry milliseconds: two views 1 ms apart are ordered (the earlier one is
    history), two in the same millisecond tie (neither is the other's history)."""
    from seller_core.data.kuairec import ingest_kuairec

    matrix, tags, captions = kuairec_files
    header = matrix.read_text().splitlines()[0]
    lines = [header]
    # user 7: video 0 at .100, video 1 at .101 (1 ms later), videos 2 and 3 both at .500, video 4 later
    for v, ts in [(0, "1593898068.1"), (1, "1593898068.101"), (2, "1593898068.5"), (3, "1593898068.5"),
                  (4, "1593898070.0")]:
        lines.append(f"7,{v},12000,6000,2020-07-05 05:27:48.100,20200705.0,{ts},2.0")
    matrix.write_text("\n".join(lines) + "\n")
    ingest_kuairec(matrix, tags, captions, tmp_path / "inter_raw.parquet", tmp_path / "items_raw.parquet",
                   min_watch_ratio=2.0)
    raw = pq.read_table(tmp_path / "inter_raw.parquet").to_pylist()
    assert [r["timestamp"] for r in raw] == [1593898068100, 1593898068101, 1593898068500, 1593898068500,
                                             1593898070000]
    out = {n: tmp_path / f"{n}.parquet" for n in ["interactions", "item_table", "users", "samples_train",
                                                  "samples_valid", "samples_test"]}
    out["stats"] = tmp_path / "stats.json"
    split = {**SPLIT, "kcore": {"k": 1, "sides": "both"}, "cold_start": "keep",
             "split": {"mode": "per_user", "ratios": [0.4, 0.2, 0.4]}}
    stats = filter_and_split(tmp_path / "inter_raw.parquet", tmp_path / "items_raw.parquet", out, **split)
    samples = pd.concat([pq.read_table(out[f"samples_{s}"]).to_pandas() for s in ("train", "valid", "test")])
    inter = pq.read_table(out["interactions"]).to_pandas()
    hist = {inter.loc[s.sample_id, "raw_item_id"]: [inter.loc[inter.item_id == i, "raw_item_id"].iloc[0]
                                                   for i in s.history] for s in samples.itertuples()}
    assert hist == {"1": ["0"], "2": ["0", "1"], "3": ["0", "1"], "4": ["0", "1", "2", "3"]}
    # the per-user 40/20/40 cut falls inside the tie: the tied pair stays together in valid
    assert inter.set_index("raw_item_id")["split"].to_dict() == {"0": "train", "1": "train", "2": "valid",
                                                                  "3": "valid", "4": "test"}
    assert stats["interactions_in_ties"] == 2
