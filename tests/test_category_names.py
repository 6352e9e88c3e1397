"""KuaiRec category names in English: the shipped translation table, the translation stage, the
missing-name policies (error, label, the GT backend), and English all the way from the synthetic
Chinese raw file to item descriptions, category texts and GT queries."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fake_messages_server import FakeMessagesServer
from gt_fixtures import gt_cfg
from seller_core.data import synth
from seller_core.data.categories import category_sequences
from seller_core.data.category_names import (CJK, TABLE_FILE, MissingTranslations, english_problem, load_table,
                                             placeholder, table_location, translate_items, translations)
from seller_core.data.kuairec import ingest_kuairec
from seller_core.data.split import filter_and_split
from seller_core.gt.assemble import assemble_explanations
from seller_core.gt.cache import ResponseCache
from seller_core.gt.generate import generate_category_queries
from seller_core.gt.names import NAMES_PROMPT_VERSION, parse_translation, translate_missing
from seller_core.gt.prompts import InvalidResponse

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------ the table


def test_table_is_a_bijection_onto_short_english_names():
    rows = load_table()
    raw = [r["raw"] for r in rows]
    en = [r["en"] for r in rows]
    assert len(rows) == 395  # every distinct name of the real file (38 + 137 + 220 over the three levels)
    assert [sum(r["level"] == k for r in rows) for k in (1, 2, 3)] == [38, 137, 220]
    assert len(set(raw)) == len(raw) and len(set(en)) == len(en)
    assert len({e.lower() for e in en}) == len(en)  # distinct even ignoring case
    for r in rows:
        assert r["raw"] and r["raw"] == r["raw"].strip()
        assert english_problem(r["en"]) is None, (r["raw"], r["en"], english_problem(r["en"]))
        assert not CJK.search(r["en"]) and r["en"].isascii()
    assert sum(bool(CJK.search(r)) for r in raw) >= 385  # the raw names are Chinese (a few: ASMR, cosplay, k12)
    # a hierarchy: every parent is a name one level up
    by_raw = {r["raw"]: r for r in rows}
    for r in rows:
        if r["level"] == 1:
            assert r["parent"] == ""
        else:
            assert by_raw[r["parent"]]["level"] == r["level"] - 1
    table = translations()
    assert table["颜值"] == "Good Looks" and table["二次元"] == "Anime & ACG" and table["高新数码"] == "Tech & Digital"
    # the real file's one id with two spellings (third level 1132: k12 and K12) keeps two names
    assert by_raw["k12"]["id"] == by_raw["K12"]["id"] == 1132 and table["k12"] != table["K12"]


def test_table_is_package_data():
    assert Path(table_location()).name == TABLE_FILE and Path(table_location()).is_file()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["seller_core.data"]
    assert any(Path("resources", TABLE_FILE).match(p) for p in patterns)


# ------------------------------------------------------------------------------ the stage


def _items(tmp_path, categories):
    path = tmp_path / "items_raw.parquet"
    pq.write_table(pa.table({
        "raw_item_id": [str(i) for i in range(len(categories))], "name": [f"v{i}" for i in range(len(categories))],
        "categories": pa.array(categories, pa.list_(pa.string())),
        "description": [", ".join(c) for c in categories]}), path)
    return path


def _translate(tmp_path, categories, **kw):
    src = _items(tmp_path, categories)
    out = {k: tmp_path / f"{k}.parquet" for k in ("items", "names")}
    stats = translate_items(src, out["items"], out["names"], tmp_path / "names.json", **kw)
    return stats, pq.read_table(out["items"]).to_pylist(), pq.read_table(out["names"]).to_pylist()


def test_translation_keeps_raw_names_and_rewrites_the_description(tmp_path):
    stats, items, names = _translate(tmp_path, [["美食", "美食教程", "烘焙"], ["颜值"], ["tag 11", "tag 2"]])
    assert items[0]["categories"] == ["Food", "Cooking Tutorials", "Baking"]
    assert items[0]["categories_raw"] == ["美食", "美食教程", "烘焙"]
    assert items[0]["description"] == "Food, Cooking Tutorials, Baking"
    assert items[2]["categories"] == items[2]["categories_raw"] == ["tag 11", "tag 2"]  # feat tags: English already
    assert {n["raw"]: n["source"] for n in names}["tag 11"] == "feat_tag"
    assert stats["by_source"] == {"feat_tag": 2, "table": 4}
    assert json.loads((tmp_path / "names.json").read_text())["names"] == 6


def test_missing_names_are_a_clear_error_by_default(tmp_path):
    with pytest.raises(MissingTranslations) as e:
        _translate(tmp_path, [["美食", "新类目"], ["另一个新类目", "颜值"]])
    msg = str(e.value)
    assert "'另一个新类目'" in msg and "'新类目'" in msg and "'美食'" not in msg
    assert TABLE_FILE in msg and "items_raw.parquet" in msg and "missing: label" in msg
    assert e.value.names == ["另一个新类目", "新类目"]


def test_missing_names_get_labelled_placeholders_on_request(tmp_path):
    stats, items, names = _translate(tmp_path, [["美食", "新类目"]], missing="label")
    assert items[0]["categories"] == ["Food", placeholder("新类目")]
    assert placeholder("新类目").startswith("Untranslated category ") and placeholder("新类目").isascii()
    assert {n["raw"]: n["source"] for n in names}["新类目"] == "label"
    assert stats["by_source"] == {"label": 1, "table": 1}


def test_missing_names_from_the_backend_never_merge_with_table_names(tmp_path):
    backend = tmp_path / "backend.parquet"
    pq.write_table(pa.table({"raw": ["新类目", "又一个"], "en": ["Food", "Odd Stuff"],
                             "source": ["backend:m", "backend:m"]}), backend)
    _, items, names = _translate(tmp_path, [["美食", "新类目", "又一个"]], missing="backend", backend_names=backend)
    en = items[0]["categories"]
    assert en[0] == "Food" and en[1].startswith("Food ") and en[2] == "Odd Stuff" and len(set(en)) == 3
    with pytest.raises(MissingTranslations, match="no translation"):
        _translate(tmp_path, [["第三个"]], missing="backend", backend_names=backend)


# ------------------------------------------------------------------------------ the GT backend


def test_parse_translation():
    assert parse_translation('{"category": "颜值", "en": " Good   Looks "}') == "Good Looks"
    for bad in ("Good Looks", '{"en": "好看"}', '{"en": "Looks, Good"}', '{"en": ""}', '{"name": "x"}'):
        with pytest.raises(InvalidResponse):
            parse_translation(bad)


def test_offline_backend_cannot_translate_missing_names(tmp_path):
    src = _items(tmp_path, [["美食", "新类目"]])
    with pytest.raises(MissingTranslations, match="'新类目'.*cannot translate"):
        translate_missing(src, tmp_path / "out.parquet", gt_cfg(tmp_path), domain="Kuaishou")
    # nothing missing: an empty file, no backend needed
    src = _items(tmp_path, [["美食"]])
    stats = translate_missing(src, tmp_path / "out.parquet", gt_cfg(tmp_path), domain="Kuaishou")
    assert stats["missing"] == 0 and pq.read_table(tmp_path / "out.parquet").num_rows == 0


def test_claude_translates_missing_names_once_through_the_gt_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    src = _items(tmp_path, [["美食", "新类目"], ["又一个"]])
    answers = {"新类目": [("text", "not json"), ("text", json.dumps({"category": "新类目", "en": "New Stuff"}))],
               "又一个": [("text", json.dumps({"category": "又一个", "en": "Another One"}))]}
    with FakeMessagesServer(per_category=answers) as server:
        cfg = gt_cfg(tmp_path, backend="anthropic", base_url=server.base_url)
        out = tmp_path / "backend.parquet"
        stats = translate_missing(src, out, cfg, domain="Kuaishou")
        assert server.requests == 3 and stats["requests"] == 3  # one repair after the unusable answer
        rows = pq.read_table(out).to_pylist()
        assert {r["raw"]: r["en"] for r in rows} == {"新类目": "New Stuff", "又一个": "Another One"}
        assert {r["source"] for r in rows} == {"backend:claude-test"}
        cached = ResponseCache(cfg["cache_path"]).rows()
        assert {r[0] for r in cached} == {"新类目", "又一个"} and {r[3] for r in cached} == {NAMES_PROMPT_VERSION}
        server.reset_counts()
        translate_missing(src, out, cfg, domain="Kuaishou")  # a rerun: all cached, no request
        assert server.requests == 0
    _, items, _ = _translate(tmp_path, [["美食", "新类目"], ["又一个"]], missing="backend", backend_names=out)
    assert items[0]["categories"] == ["Food", "New Stuff"]


# ------------------------------------------------------------------------------ end to end


def test_synthetic_kuairec_is_chinese_raw_and_english_downstream(tmp_path):
    raw = tmp_path / "raw"
    synth.synthesize_kuairec(raw / "big_matrix.csv", raw / "item_categories.csv", raw / "captions.csv",
                             users=80, items=150, seed=3)
    captions = (raw / "captions.csv").read_text(encoding="utf-8")
    assert CJK.search(captions.split("\n", 2)[1].split(",")[5])  # first-level name of video 0: Chinese
    d = tmp_path / "data"
    ingest_kuairec(raw / "big_matrix.csv", raw / "item_categories.csv", raw / "captions.csv",
                   d / "interactions_raw.parquet", d / "items_raw.parquet", min_watch_ratio=2.0)
    assert any(CJK.search(c) for cats in pq.read_table(d / "items_raw.parquet")["categories"].to_pylist() for c in cats)
    translate_items(d / "items_raw.parquet", d / "items_en.parquet", d / "category_names.parquet")
    out = {n: d / f"{n}.parquet" for n in ["interactions", "users", "samples_train", "samples_valid", "samples_test"]}
    out.update(item_table=d / "items.parquet", stats=d / "stats.json")
    filter_and_split(d / "interactions_raw.parquet", d / "items_en.parquet", out, dedupe="first",
                     kcore={"k": 5, "sides": "both"}, split={"mode": "global_time", "ratios": [0.8, 0.1, 0.1]},
                     max_history=20, cold_start="drop", test_subsample="all", seed=0)
    items = pq.read_table(d / "items.parquet").to_pylist()
    table = translations()
    for it in items:
        assert not CJK.search(it["description"]) and not any(CJK.search(c) for c in it["categories"])
        assert it["categories"] == [table.get(c, c) for c in it["categories_raw"]]
        assert it["description"] == ", ".join(it["categories"])
    assert sum(bool(CJK.search(c)) for it in items for c in it["categories_raw"]) > len(items)
    samples = [out[f"samples_{s}"] for s in ("train", "valid", "test")]
    category_sequences(samples, d / "items.parquet", d / "interactions.parquet", d / "category_texts.parquet",
                       max_per_item=3, downsample_t=1e-5, include_target=True, seed=0)
    texts = pq.read_table(d / "category_texts.parquet").to_pylist()
    assert texts and not any(CJK.search(t["text"]) for t in texts)
    cfg = gt_cfg(tmp_path)
    generate_category_queries(d / "items.parquet", d / "gt" / "queries.parquet", cfg, domain="Kuaishou")
    queries = pq.read_table(d / "gt" / "queries.parquet").to_pylist()
    assert queries and not any(CJK.search(q["query"]) or CJK.search(q["category"]) for q in queries)
    assemble_explanations(d / "items.parquet", samples, d / "gt" / "queries.parquet", d / "gt" / "expl.parquet",
                          seed=0, max_categories=3, joiner="; ")
    expl = pq.read_table(d / "gt" / "expl.parquet").to_pylist()
    assert expl and not any(CJK.search(e[k]) for e in expl for k in ("category_text", "intent_text", "both_text"))
