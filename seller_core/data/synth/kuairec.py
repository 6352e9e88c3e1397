"""Synthetic KuaiRec 2.0 dumps: `big_matrix.csv`, `item_categories.csv` and
`kuairec_caption_category.csv` in the real format, with the real (Chinese) category names.

Format (checked against the real files): `big_matrix.csv` has one row per view, grouped by user
and in time order; `time` is Beijing time with milliseconds, `date` is written as a float
(`20200705.0`, as pandas wrote the real file), `timestamp` is epoch seconds with milliseconds,
`watch_ratio = play_duration / video_duration` (shortest float repr). `item_categories.csv`:
`feat` like `[8]` or `"[27, 9]"` (tag ids 0-30). `kuairec_caption_category.csv`: `-124`/`UNKNOWN`
for missing levels; captions with commas, doubled quotes and newlines inside quoted fields,
Chinese text and emoji, and in a few rows a bare carriage return inside an UNQUOTED caption (the
real file has four such rows; a naive CSV reader splits each into two spurious records).

Categories are the real taxonomy, names and ids, read from the translation table shipped with the
package (`seller_core/data/resources/kuairec_categories_en.tsv`, its `raw` column): 38 first-,
137 second- and 220 third-level names, in Chinese like the real file, so the translation stage
runs on the synthetic data exactly as on the real dump. The interest units (see world.py) are the
second-level categories (and the one first-level category without children), ordered by their
first-level parent, so ring neighbours mostly share it. A video has a 1-3 level path (first >
second > third); the third level, or the second and third, are unknown for many videos, all three
for a few (real shares: three levels 36 %, two 30 %, one 33 %, none 0.4 %). A video's `feat`
starts with its first-level id when that id is a tag id (<= 30), as in the real files.

Views: in-interest views have a median watch ratio of 2.6 (~67 % >= 2), noise views (25 %) 0.6, so
the positive rule drops most noise. Activity windows: 40-100 % of 2020-07-05..2020-09-05 per user.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seller_core.data.category_names import load_table

from .files import _check_sizes, _join, _prepare, _write_lines
from .world import DEFAULT_ITEMS_PER_UNIT, POPULARITY_EXPONENT, _build_world, _event_times, _events_per_user, _n_units, _spread, _walk, _World

log = logging.getLogger(__name__)

BEIJING = 8 * 3600
KUAI_START_MS = 1593878400 * 1000  # 2020-07-05 00:00:00 Beijing
KUAI_END_MS = 1599292799 * 1000  # 2020-09-05 23:59:59 Beijing
KUAI_WINDOW = (0.40, 1.00)
KUAI_USERS_PER_CHUNK = 2048
KUAI_NOISE = 0.25
N_TAGS = 31  # feat tag ids 0-30

CAPTION_ZH = ["今天天气真好", "太好吃了", "家常做法，简单易学", "感谢快手我要上热门", "喜欢的点个关注",
              "一起来看看吧", "我的日常", "记录美好生活", "这也太可爱了吧", "你们觉得怎么样？"]
CAPTION_TOPIC = ["在家也能学会的{x}", "我最喜欢的{x}", "{x}第二集", "有人和我一样喜欢{x}吗？",
                 "第一次尝试{x}", "{x}小技巧分享"]
HASHTAGS = ["#感谢快手我要上热门", "#作品推广", "#同城热点", "#快手创作者服务中心", "#热门", "#日常"]
EMOJI = ["\U0001F525", "\u2764\ufe0f", "\U0001F602", "\U0001F44D", "\U0001F622", "\u2728"]
COVER_TEXTS = ["最高级的{x}", "{x} 一天一个", "{x}合集", "看完{x}你就懂了"]


def kuairec_units() -> list[tuple]:
    """(l1 id, l1 name, l2 id, l2 name, [(l3 id, l3 name)]) per interest unit, in ring order: the
    first-level categories by id, each one's second-level children by id; a first-level category
    without children is a unit of its own (l2 id and name None)."""
    children = defaultdict(list)
    for row in load_table():
        children[row["parent"]].append(row)
    units = []
    for l1 in sorted(children[""], key=lambda r: r["id"]):
        seconds = sorted(children[l1["raw"]], key=lambda r: r["id"])
        if not seconds:
            units.append((l1["id"], l1["raw"], None, None, []))
        for l2 in seconds:
            thirds = [(r["id"], r["raw"]) for r in sorted(children[l2["raw"]], key=lambda r: r["id"])]
            units.append((l1["id"], l1["raw"], l2["id"], l2["raw"], thirds))
    return units


def _csv_field(value: str) -> str:
    """Quote like the real writer: on comma, quote or newline, but NOT on a bare carriage return."""
    s = str(value)
    if any(c in s for c in ',"\n'):
        return '"' + s.replace('"', '""') + '"'
    return s




def _kuai_items(rng, world: _World, units: list[tuple]) -> tuple[list[str], list[str]]:
    """Rows of item_categories.csv and kuairec_caption_category.csv."""
    n = len(world.item_unit)
    feat_rows, cap_rows = [], []
    # a few bare-\r captions, and some with quotes and newlines, whatever the size
    n_cr = max(1, round(n * 0.004))
    special = rng.permutation(n)
    cr_items = set(special[:n_cr].tolist())
    quote_items = set(special[n_cr: n_cr + max(1, round(n * 0.03))].tolist())
    newline_items = set(special[n_cr + len(quote_items): n_cr + len(quote_items) + max(1, round(n * 0.03))].tolist())
    for v in range(n):
        l1_id, l1_name, l2_id, l2_name, l3s = units[world.item_unit[v]]
        l3_id, l3_name = l3s[int(rng.integers(len(l3s)))] if l3s else (None, None)
        depth = 1 + (l2_id is not None) + (l3_id is not None)
        level = rng.random()
        # real shares: all three levels 36 %, two 30 %, one 33 %, none 0.4 %
        known = min(depth, 3 if level < 0.36 else 2 if level < 0.66 else 1 if level < 0.996 else 0)
        if v in cr_items:
            known = max(known, 1)
        path = [(l1_id, l1_name), (l2_id, l2_name), (l3_id, l3_name)]
        topic = path[max(known, 1) - 1][1]
        levels = [(str(i), name) if k < known else ("-124", "UNKNOWN") for k, (i, name) in enumerate(path)]

        tags = sorted(set(rng.choice(HASHTAGS, size=int(rng.choice(4, p=[0.55, 0.2, 0.15, 0.1])), replace=False)))
        subject = path[depth - 1][1] if rng.random() < 0.6 else path[max(depth - 2, 0)][1]
        if v in cr_items:  # the quirk: no comma/quote/newline, so the field stays unquoted
            caption = CAPTION_ZH[int(rng.integers(len(CAPTION_ZH)))] + " " + subject + ["\r", "\r ", "\r！"][v % 3]
            tags = []
        elif rng.random() < 0.13:
            caption, tags = "", []
        else:
            parts = [CAPTION_ZH[int(rng.integers(len(CAPTION_ZH)))],
                     CAPTION_TOPIC[int(rng.integers(len(CAPTION_TOPIC)))].format(x=subject)]
            if rng.random() < 0.4:
                parts.append(EMOJI[int(rng.integers(len(EMOJI)))])
            sep = "，" if rng.random() < 0.5 else ", "
            caption = sep.join(parts) + (" " + " ".join(tags) if tags else "")
            if v in quote_items:
                caption = f'"{subject}" {caption}'
            if v in newline_items:
                caption = caption + "\n" + CAPTION_ZH[int(rng.integers(len(CAPTION_ZH)))]
        cover = ("UNKNOWN" if rng.random() < 0.62
                 else COVER_TEXTS[int(rng.integers(len(COVER_TEXTS)))].format(x=topic))
        topic_tag = "[" + ",".join(t.lstrip("#") for t in tags) + "]"
        row = [str(v), cover, caption, topic_tag, *[x for pair in levels for x in pair]]
        cap_rows.append(",".join(_csv_field(x) for x in row) + "\n")

        first = l1_id if l1_id < N_TAGS else int(rng.integers(N_TAGS))
        feat = [first] + [int(t) for t in rng.choice(N_TAGS, size=int(rng.choice(3, p=[0.83, 0.15, 0.02])))
                          if t != first]
        feat_text = "[" + ", ".join(str(t) for t in dict.fromkeys(feat)) + "]"
        feat_rows.append(f"{v},{_csv_field(feat_text)}\n")
    return feat_rows, cap_rows


def _float_text(values: np.ndarray) -> pa.Array:
    """Shortest round-trip float text, with ".0" on integral values as pandas writes them."""
    text = pc.cast(pa.array(values, pa.float64()), pa.string())
    integral = pc.invert(pc.match_substring_regex(text, r"[.eE]"))
    return pc.if_else(integral, _join(text, ".0"), text)



def synthesize_kuairec(interactions_path, item_categories_path, captions_path, *, users: int, items: int,
                       seed: int = 0, interactions_per_user: float = 60.0,
                       items_per_unit: float = DEFAULT_ITEMS_PER_UNIT, popularity_exponent: float = POPULARITY_EXPONENT) -> dict:
    """Write KuaiRec-format `big_matrix.csv`, `item_categories.csv` and `kuairec_caption_category.csv`.
    `items_per_unit`: about how many videos share a second-level category (with the taxonomy's 138
    units as the cap on units)."""
    _check_sizes(users, items)
    users, items = int(users), int(items)
    interactions_path, item_categories_path, captions_path = map(
        _prepare, (interactions_path, item_categories_path, captions_path))

    units = kuairec_units()
    rng = np.random.default_rng([seed, 0])
    chosen = [units[i] for i in _spread(len(units), _n_units(items, len(units), items_per_unit))]
    world = _build_world(rng, len(chosen), items, popularity_exponent)
    video_ms = np.clip(np.exp(rng.normal(np.log(14000), 0.7, size=items)), 3000, 300000).astype(np.int64)

    feat_rows, cap_rows = _kuai_items(rng, world, chosen)
    with open(item_categories_path, "w", encoding="utf-8", newline="") as f:
        f.write("video_id,feat\n")
        f.writelines(feat_rows)
    with open(captions_path, "w", encoding="utf-8", newline="") as f:
        f.write("video_id,manual_cover_text,caption,topic_tag,first_level_category_id,first_level_category_name,"
                "second_level_category_id,second_level_category_name,third_level_category_id,third_level_category_name\n")
        f.writelines(cap_rows)

    n_lines = n_pos = 0
    with open(interactions_path, "wb") as f:
        f.write(b"user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n")
        for chunk, first in enumerate(range(0, users, KUAI_USERS_PER_CHUNK)):
            n_users = min(KUAI_USERS_PER_CHUNK, users - first)
            crng = np.random.default_rng([seed, 1, chunk])
            lengths = _events_per_user(crng, n_users, float(interactions_per_user))
            ev = _walk(crng, world, lengths, KUAI_NOISE)
            ms = _event_times(crng, ev, lengths, KUAI_START_MS, KUAI_END_MS, KUAI_WINDOW, 1)
            n = len(ev.item)
            # in-interest views: median ratio 2.6 (~67 % >= 2); noise views: median 0.6 (~2 % >= 2)
            target = np.exp(crng.normal(np.where(ev.noise, np.log(0.6), np.log(2.6)), 0.6))
            vid = video_ms[ev.item]
            play = np.maximum(np.round(target * vid).astype(np.int64), 1)
            ratio = play / vid
            n_pos += int((ratio >= 2.0).sum())
            sec, milli = ms // 1000, ms % 1000
            local = pa.array(sec + BEIJING).cast(pa.timestamp("s"))
            milli_text = pc.utf8_lpad(pc.cast(pa.array(milli), pa.string()), 3, "0")
            # shortest repr of sec.milli: trailing zeros dropped, ".0" when whole
            frac = pc.utf8_rtrim(milli_text, "0")
            frac = pc.if_else(pc.equal(pc.utf8_length(frac), 0), "0", frac)
            lines = _join(pc.cast(pa.array(first + ev.user), pa.string()), ",",
                          pc.cast(pa.array(ev.item), pa.string()), ",",
                          pc.cast(pa.array(play), pa.string()), ",", pc.cast(pa.array(vid), pa.string()), ",",
                          pc.strftime(local, format="%Y-%m-%d %H:%M:%S"), ".", milli_text, ",",
                          pc.strftime(local, format="%Y%m%d"), ".0,",
                          pc.cast(pa.array(sec), pa.string()), ".", frac, ",",
                          _float_text(ratio), "\n")
            _write_lines(f, lines)
            n_lines += n

    stats = {"format": "kuairec", "users": users, "items": items, "units": world.n_units,
             "interaction_lines": n_lines, "positive_share": round(n_pos / max(n_lines, 1), 4),
             "caption_lines": items, "item_category_lines": items,
             "bare_cr_captions": sum("\r" in r for r in cap_rows)}
    log.info("synthetic kuairec: %s", stats)
    return stats
