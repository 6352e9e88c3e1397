"""The synthetic raw dumps: real formats and quirks, determinism, and the properties downstream
stages rely on (sequential drift, survival of positives + 10-core, a usable global time cut)."""

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from seller_core.data import synth
from seller_core.data.category_names import CJK, load_table
from seller_core.data.synth import world

# config/config.yaml's embedded default
_DEFAULT = yaml.safe_load((Path(__file__).resolve().parent.parent / "config" / "config.yaml").read_text())["datasets"]
YELP_DEFAULT = _DEFAULT["tiny_yelp"]["synthetic"]
KUAI_DEFAULT = _DEFAULT["tiny_kuairec"]["synthetic"]
BUSINESS_KEYS = ["business_id", "name", "address", "city", "state", "postal_code", "latitude", "longitude",
                 "stars", "review_count", "is_open", "attributes", "categories", "hours"]
REVIEW_KEYS = ["review_id", "user_id", "business_id", "stars", "useful", "funny", "cool", "text", "date"]
CAPTION_HEADER = ("video_id,manual_cover_text,caption,topic_tag,first_level_category_id,first_level_category_name,"
                  "second_level_category_id,second_level_category_name,third_level_category_id,"
                  "third_level_category_name")
ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")


def make_yelp(d, **kw):
    stats = synth.synthesize_yelp(d / "business.json", d / "review.json", **kw)
    return stats, d / "business.json", d / "review.json"


def make_kuai(d, **kw):
    paths = (d / "big_matrix.csv", d / "item_categories.csv", d / "kuairec_caption_category.csv")
    return synth.synthesize_kuairec(*paths, **kw), *paths


@pytest.fixture(scope="module")
def yelp(tmp_path_factory):
    return make_yelp(tmp_path_factory.mktemp("yelp") / "nested" / "dir", **YELP_DEFAULT)


@pytest.fixture(scope="module")
def kuai(tmp_path_factory):
    return make_kuai(tmp_path_factory.mktemp("kuai"), **KUAI_DEFAULT)


def read_json_lines(path):
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    assert lines[-1] == ""  # newline-terminated, no blank lines inside
    return [json.loads(line) for line in lines[:-1]]


def read_captions(path):
    """A \\r-aware parse: lines end in \\n only, so a bare \\r is data (read as a space)."""
    with open(path, encoding="utf-8", newline="") as f:
        text = re.sub(r"\r(?!\n)", " ", f.read())
    return list(csv.reader(io.StringIO(text, newline="")))


def kcore(df, k=10):
    while True:
        n = len(df)
        keep = (df.groupby("u")["i"].transform("size") >= k) & (df.groupby("i")["u"].transform("size") >= k)
        df = df[keep]
        if len(df) == n:
            return df


def consecutive_vs_random(df, cats):
    """Share of a user's consecutive item pairs that share a category, and of random item pairs."""
    items, users = df["i"].to_numpy(), df["u"].to_numpy()
    same_user = users[1:] == users[:-1]
    consecutive = np.mean([bool(cats[a] & cats[b]) for a, b in zip(items[:-1][same_user], items[1:][same_user])])
    perm = np.random.default_rng(0).permutation(len(items))
    half = len(perm) // 2
    rand = np.mean([bool(cats[items[a]] & cats[items[b]]) for a, b in zip(perm[:half], perm[half: 2 * half])])
    return consecutive, rand


def span_share(df, col):
    """Share of users with interactions on both sides of the global 80 % time cut."""
    cut = np.sort(df[col].to_numpy())[int(0.8 * len(df))]
    g = df.groupby("u")[col].agg(["min", "max"])
    return float(((g["min"] < cut) & (g["max"] >= cut)).mean())


# ---------------------------------------------------------------------------------- Yelp format


def test_yelp_business_format(yelp):
    stats, business, _ = yelp
    raw = business.read_text(encoding="utf-8")
    rows = read_json_lines(business)
    assert len(rows) == stats["business_lines"] == YELP_DEFAULT["items"]
    for b in rows:
        assert list(b) == BUSINESS_KEYS
        assert ID_RE.match(b["business_id"])
        assert isinstance(b["latitude"], float) and isinstance(b["longitude"], float)
        assert isinstance(b["stars"], float) and b["stars"] * 2 == int(b["stars"] * 2) and 1 <= b["stars"] <= 5
        assert isinstance(b["review_count"], int) and b["is_open"] in (0, 1)
        assert b["categories"] is None or (isinstance(b["categories"], str) and b["categories"])
        if b["attributes"] is not None:
            assert b["attributes"] and all(isinstance(v, str) for v in b["attributes"].values())
        if b["hours"] is not None:
            assert all(re.fullmatch(r"\d{1,2}:\d{1,2}-\d{1,2}:\d{1,2}", v) for v in b["hours"].values())
            assert set(b["hours"]) <= {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
    assert len({b["business_id"] for b in rows}) == len(rows)
    assert sum(b["categories"] is None for b in rows) >= 1
    assert sum(b["hours"] is None for b in rows) >= 20
    assert sum(b["attributes"] is None for b in rows) >= 10
    values = [v for b in rows for v in (b["attributes"] or {}).values()]
    assert {"True", "False"} <= set(values)
    assert any(v.startswith("u'") for v in values) and any(v.startswith("'") for v in values)
    assert any(v.startswith("{'garage':") for v in values)
    assert any(", " in (b["categories"] or "") for b in rows)
    # real Yelp writes compact JSON, raw UTF-8 and "\/"
    assert "\\/" in raw and "/" not in raw.replace("\\/", "")
    assert '": ' not in raw and "\\u00" not in raw


def test_yelp_review_format(yelp):
    stats, business, review = yelp
    rows = read_json_lines(review)
    assert len(rows) == stats["review_lines"] > 5000
    known = {b["business_id"] for b in read_json_lines(business)}
    for r in rows:
        assert list(r) == REVIEW_KEYS
        assert ID_RE.match(r["review_id"]) and ID_RE.match(r["user_id"]) and r["business_id"] in known
        assert isinstance(r["stars"], float) and r["stars"] in (1.0, 2.0, 3.0, 4.0, 5.0)
        assert all(isinstance(r[k], int) and r[k] >= 0 for k in ("useful", "funny", "cool"))
        datetime.strptime(r["date"], "%Y-%m-%d %H:%M:%S")
        assert "2010-01-01" <= r["date"] <= "2021-12-31 23:59:59"
    texts = [r["text"] for r in rows]
    assert any("\n" in t for t in texts) and any('"' in t for t in texts) and any("'" in t for t in texts)
    assert any("é" in t for t in texts) and any(ord(c) > 0xFFFF for t in texts for c in t)  # accents, emoji
    raw = review.read_text(encoding="utf-8")
    assert '"stars":5.0,' in raw and "\\n" in raw and '\\"' in raw and "\\/" in raw
    assert len({r["review_id"] for r in rows}) == len(rows)
    # the negative share the positive rule must drop
    # (3 noise reviews per user, all < 4 stars, plus 12 % of in-interest ones: ~0.2)
    low = sum(r["stars"] < 4 for r in rows) / len(rows)
    assert 0.16 < low < 0.3


def test_yelp_times_strictly_increasing_per_user(tmp_path, monkeypatch):
    monkeypatch.setattr(synth.yelp, "YELP_USERS_PER_CHUNK", 16)  # exercise several chunks
    _, _, review = make_yelp(tmp_path, users=50, items=40, seed=3, interactions_per_user=12)
    df = pd.DataFrame(read_json_lines(review))
    assert df["user_id"].nunique() == 50
    for _, g in df.groupby("user_id", sort=False):
        assert g["date"].is_monotonic_increasing and g["date"].is_unique
    # rows of one user are contiguous
    assert (df["user_id"] != df["user_id"].shift()).sum() == 50


def test_event_times_strict_even_in_a_crowded_window():
    rng = np.random.default_rng(0)
    lengths = np.array([40, 1, 60])
    ev = world._walk(rng, world._build_world(rng, 3, 10), lengths, 0.1)
    t = world._event_times(rng, ev, lengths, 1000, 1100, (0.1, 1.0), 1)
    for user, n in enumerate(lengths):
        mine = t[ev.user == user]
        assert len(mine) == n and np.all(np.diff(mine) > 0) and mine.min() >= 1000
    assert t.max() <= 1100


# ------------------------------------------------------------------------------- KuaiRec format


def test_kuairec_matrix_format(kuai):
    stats, matrix, _, _ = kuai
    with open(matrix, encoding="utf-8", newline="") as f:
        text = f.read()
    assert "\r" not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["user_id", "video_id", "play_duration", "video_duration", "time", "date", "timestamp", "watch_ratio"]
    rows = rows[1:]
    assert len(rows) == stats["interaction_lines"] > 5000
    last = {}
    lo = datetime(2020, 7, 5, tzinfo=timezone.utc) - timedelta(hours=8)
    hi = datetime(2020, 9, 6, tzinfo=timezone.utc) - timedelta(hours=8)
    for user, video, play, dur, time, date, ts, ratio in rows:
        assert 0 <= int(user) < KUAI_DEFAULT["users"] and 0 <= int(video) < KUAI_DEFAULT["items"]
        assert re.fullmatch(r"2020-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", time)
        assert re.fullmatch(r"2020\d{4}\.0", date) and date[:8] == time[:10].replace("-", "")
        # `time` is Beijing time; `timestamp` the epoch, both to the millisecond
        local = datetime.strptime(time, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc) - timedelta(hours=8)
        assert abs(local.timestamp() - float(ts)) < 1e-4 and lo.timestamp() <= float(ts) < hi.timestamp()
        assert ts == repr(float(ts))
        assert ratio == repr(int(play) / int(dur))  # shortest repr, as pandas writes floats
        assert float(ts) > last.get(user, 0.0)
        last[user] = float(ts)
    ratios = np.array([float(r[7]) for r in rows])
    assert 0.3 < (ratios >= 2).mean() < 0.7


def test_kuairec_item_categories_format(kuai):
    _, _, item_categories, _ = kuai
    raw = item_categories.read_text(encoding="utf-8").split("\n")
    assert raw[0] == "video_id,feat" and raw[-1] == ""
    rows = list(csv.reader(io.StringIO("\n".join(raw[1:]))))
    assert [int(r[0]) for r in rows] == list(range(KUAI_DEFAULT["items"]))
    for line, (_, feat) in zip(raw[1:], rows):
        tags = json.loads(feat)
        assert tags and all(0 <= t <= 30 for t in tags)
        assert line.endswith(f',"{feat}"') if "," in feat else line.endswith(f",{feat}")
    assert any(", " in feat for _, feat in rows)


def test_kuairec_captions_format_and_bare_cr_quirk(kuai):
    stats, _, _, captions = kuai
    with open(captions, encoding="utf-8", newline="") as f:
        text = f.read()
    assert text.startswith(CAPTION_HEADER + "\n")
    assert "\r\n" not in text and text.count("\r") == stats["bare_cr_captions"] >= 1

    naive = list(csv.reader(open(captions, encoding="utf-8", newline="")))
    assert len(naive) > KUAI_DEFAULT["items"] + 1 and any(len(r) != 10 for r in naive)  # the quirk splits records

    rows = read_captions(captions)
    assert rows[0] == CAPTION_HEADER.split(",") and len(rows) == KUAI_DEFAULT["items"] + 1
    rows = rows[1:]
    assert all(len(r) == 10 for r in rows) and [int(r[0]) for r in rows] == list(range(KUAI_DEFAULT["items"]))
    # the \r sits in an UNQUOTED caption field
    for line in text.split("\n"):
        if "\r" in line:
            field = line.split(",")[2]
            assert "\r" in field and not field.startswith('"')
    assert any("\n" in r[2] for r in rows) and any('"' in r[2] for r in rows) and any("," in r[2] for r in rows)
    assert '""' in text
    assert any(re.search(r"[\u4e00-\u9fff]", r[2]) for r in rows) and any(ord(c) > 0xFFFF for r in rows for c in r[2])
    known = [0, 0, 0, 0]
    # the real taxonomy: (level, id, name, parent) as in the shipped table, names in Chinese
    table = {r["raw"]: r for r in load_table()}
    for r in rows:
        levels = [(r[4], r[5]), (r[6], r[7]), (r[8], r[9])]
        present = [i != "-124" for i, _ in levels]
        assert all((i == "-124") == (n == "UNKNOWN") for i, n in levels)
        assert present == sorted(present, reverse=True)  # a missing level has no known level below it
        parent = ""
        for level, (i, name) in enumerate(levels, 1):
            if i == "-124":
                break
            assert (table[name]["level"], table[name]["id"], table[name]["parent"]) == (level, int(i), parent)
            parent = name
        known[sum(present)] += 1
        assert r[3].startswith("[") and r[3].endswith("]")
    assert known[1] > 30 and known[2] > 30 and known[3] > 30
    names = {n for r in rows for n in (r[5], r[7], r[9])} - {"UNKNOWN"}
    assert len(names) > 40 and sum(bool(CJK.search(n)) for n in names) >= 0.9 * len(names)


# ---------------------------------------------------------------------------------- determinism


def test_deterministic_bytes(tmp_path):
    def files(d, seed):
        make_yelp(d / "y", users=30, items=40, seed=seed)
        make_kuai(d / "k", users=20, items=30, seed=seed)
        return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}

    a, b, c = files(tmp_path / "a", 5), files(tmp_path / "b", 5), files(tmp_path / "c", 6)
    assert len(a) == 5 and a == b
    assert all(a[k] != c[k] for k in a)


def test_rejects_empty_sizes(tmp_path):
    with pytest.raises(ValueError, match="users=0"):
        make_yelp(tmp_path, users=0, items=10)
    with pytest.raises(ValueError, match="items=0"):
        make_kuai(tmp_path, users=10, items=0)


# ------------------------------------- what downstream stages rely on, at the embedded default


def yelp_positive_core(business, review):
    r = pd.DataFrame(read_json_lines(review))
    pos = r[r["stars"] >= 4].drop_duplicates(["user_id", "business_id"])  # rows are in time order per user
    core = kcore(pos.rename(columns={"user_id": "u", "business_id": "i"}))
    cats = {b["business_id"]: set(b["categories"].split(", ")) if b["categories"] else set()
            for b in read_json_lines(business)}
    return core, cats


def kuai_positive_core(matrix, captions):
    m = pd.read_csv(matrix)
    pos = m[m["watch_ratio"] >= 2].drop_duplicates(["user_id", "video_id"])
    core = kcore(pos.rename(columns={"user_id": "u", "video_id": "i"}))
    cats = {int(r[0]): {r[5], r[7], r[9]} - {"UNKNOWN"} for r in read_captions(captions)[1:]}
    return core, cats


def test_yelp_survives_positive_filter_and_10core(yelp):
    _, business, review = yelp
    core, _ = yelp_positive_core(business, review)
    # the embedded default's promise: at least 1,000 items after the 10-core
    assert core["u"].nunique() >= 0.7 * YELP_DEFAULT["users"] and core["i"].nunique() >= 1000 and len(core) >= 10000
    assert span_share(core, "date") >= 0.4
    # popularity bias: the top 10 % of items hold clearly more than 10 % of the interactions (the
    # default's popularity is flat within units, popular units still draw more)
    assert top_decile_share(core) > 0.13


def top_decile_share(core):
    counts = core["i"].value_counts().to_numpy()
    return counts[: len(counts) // 10].sum() / counts.sum()


def test_popularity_exponent_steepens_popularity(tmp_path):
    shares = []
    for a in (0.1, 0.8):
        _, business, review = make_yelp(tmp_path / str(a), users=400, items=300, seed=4, popularity_exponent=a)
        r = pd.DataFrame(read_json_lines(review))
        shares.append(top_decile_share(r.rename(columns={"business_id": "i"})))
    assert shares[1] > shares[0] + 0.1


def test_kuairec_survives_positive_filter_and_10core(kuai):
    _, matrix, _, captions = kuai
    core, _ = kuai_positive_core(matrix, captions)
    assert core["u"].nunique() >= 0.7 * KUAI_DEFAULT["users"] and core["i"].nunique() >= 1000 and len(core) >= 10000
    assert span_share(core, "timestamp") >= 0.4


def test_yelp_sequential_drift(yelp):
    _, business, review = yelp
    core, cats = yelp_positive_core(business, review)
    consecutive, rand = consecutive_vs_random(core, cats)
    assert consecutive > 0.5 and consecutive > 3 * rand


def test_kuairec_sequential_drift(kuai):
    _, matrix, _, captions = kuai
    core, cats = kuai_positive_core(matrix, captions)
    consecutive, rand = consecutive_vs_random(core.sort_values(["u", "timestamp"], kind="stable"), cats)
    assert consecutive > 0.4 and consecutive > 3 * rand


def hit_rates(core, cats, n=10):
    """HR@n on each user's last positive: most-popular vs 'items sharing a category with the user's
    previous item, by popularity' (the simplest model that uses the order of the sequence)."""
    last = core.groupby("u").tail(1)
    train = core.drop(last.index)
    pop = train["i"].value_counts()
    prev = train.groupby("u").tail(1).set_index("u")["i"]
    top = set(pop.index[:n])
    hr_pop = np.mean([i in top for i in last["i"]])
    hits = []
    for u, i in zip(last["u"], last["i"]):
        p = prev[u]
        ranked = sorted(pop.index, key=lambda x: (-len(cats[x] & cats[p]), -pop[x]))[:n]
        hits.append(i in ranked)
    return hr_pop, float(np.mean(hits))


def test_order_of_the_sequence_beats_popularity(yelp, kuai):
    # the default's popularity is flat, so most-popular is little better than chance (10 / items);
    # the previous item's categories are far better than both
    _, business, review = yelp
    core, cats = yelp_positive_core(business, review)
    hr_pop, hr_seq = hit_rates(core, cats)
    assert hr_seq > 3 * max(hr_pop, 10 / core["i"].nunique())
    _, matrix, _, captions = kuai
    core, cats = kuai_positive_core(matrix, captions)
    hr_pop, hr_seq = hit_rates(core.sort_values(["u", "timestamp"], kind="stable"), cats)
    assert hr_seq > 3 * max(hr_pop, 10 / core["i"].nunique())


def test_popularity_is_a_real_baseline_with_a_steep_exponent(tmp_path):
    _, business, review = make_yelp(tmp_path, users=300, items=400, seed=0, items_per_unit=12,
                                    popularity_exponent=0.6)
    hr_pop, hr_seq = hit_rates(*yelp_positive_core(business, review))
    assert hr_pop > 0.02 and hr_seq > 2 * hr_pop
