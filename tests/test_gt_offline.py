"""Ground truth without network: prompts/parsing, the offline backend, assembly, determinism, cache CLI."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gt_fixtures import CATEGORIES, ITEM_CATEGORIES, gt_cfg, write_stage_files
from seller_core.errors import BadInputError
from seller_core.gt import cache as cache_mod
from seller_core.gt.assemble import assemble_explanations
from seller_core.gt.backends import OfflineBackend
from seller_core.gt.cache import ResponseCache, request_key
from seller_core.gt.generate import generate_category_queries
from seller_core.gt.prompts import PROMPT_VERSION, InvalidResponse, parse_response, user_prompt

# ---------------------------------------------------------------- prompts and parsing


def test_parse_accepts_valid_and_fenced_json():
    obj = {"category": "Bars", "explicit": ["a bar", "b bar", "c bar", "d bar"], "implicit": ["x", "y", "z"]}
    q = parse_response(json.dumps(obj), 3)
    assert q.explicit == ("a bar", "b bar", "c bar") and q.implicit == ("x", "y", "z")
    assert parse_response("```json\n" + json.dumps(obj) + "\n```", 3) == q


@pytest.mark.parametrize("text", [
    "not json at all",
    '{"explicit": ["a", "b", "c"], "implicit": ["x", "y"]',            # cut off
    json.dumps(["a", "b"]),                                               # not an object
    json.dumps({"explicit": ["a", "b", "c"]}),                            # implicit missing
    json.dumps({"explicit": ["a", "a", "A"], "implicit": ["x", "y", "z"]}),  # too few distinct
    json.dumps({"explicit": ["a", "b", 3], "implicit": ["x", "y", "z"]}),    # non-string
    json.dumps({"explicit": ["a", "b", "  "], "implicit": ["x", "y", "z"]}),  # empty
])
def test_parse_rejects_unusable(text):
    with pytest.raises(InvalidResponse):
        parse_response(text, 3)


def test_prompt_quotes_category_and_key_covers_every_field():
    p = user_prompt('Secondary "Creation" Music', "Kuaishou", 4)
    assert '"Secondary \\"Creation\\" Music"' in p and "Write 4 EXPLICIT" in p
    base = ("anthropic", "m", "sys", "user", None, 512, PROMPT_VERSION)
    keys = {request_key(*base)}
    for i, v in enumerate(["offline", "m2", "sys2", "user2", 0.0, 513, "gt-v0"]):
        changed = list(base)
        changed[i] = v
        keys.add(request_key(*changed))
    assert len(keys) == 8


# ---------------------------------------------------------------- offline backend


def _words(s):
    return {w for w in re.findall(r"[a-z]+", s.lower()) if len(w) > 2}


def test_offline_backend_explicit_names_category_implicit_does_not():
    b = OfflineBackend(CATEGORIES, seed=0)
    for c in CATEGORIES:
        q = b.queries(c, 5)
        assert len(set(q.explicit)) == 5 and len(set(q.implicit)) == 5
        assert all(c in e for e in q.explicit)
        assert all(not (_words(c) & _words(i)) for i in q.implicit), (c, q.implicit)


def test_offline_backend_consistent_per_category_and_distinct_across():
    a, b = OfflineBackend(CATEGORIES, seed=0), OfflineBackend(list(reversed(CATEGORIES)), seed=0)
    assert all(a.queries(c, 5) == b.queries(c, 5) for c in CATEGORIES)
    # each category has its own theme, so no implicit query is shared between categories
    sets = [set(a.queries(c, 5).implicit) for c in CATEGORIES]
    assert len(set(a.themes.values())) == len(CATEGORIES)
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            assert not sets[i] & sets[j]
    # no implicit query is shared at the paper's scale either (Yelp has 1,253 categories)
    big_cats = [f"Category {i}" for i in range(1300)] + ["Homework help", "Calm Places", "Escape Games"]
    big = OfflineBackend(big_cats, seed=0)
    seen = {}
    for c in big_cats:
        q = big.queries(c, 5)
        assert not _words(c) & set().union(*map(_words, q.implicit)), (c, q.implicit)
        for x in q.implicit:
            assert seen.setdefault(x, c) == c, (x, c, seen[x])
    assert OfflineBackend(CATEGORIES, seed=1).themes != a.themes


# ---------------------------------------------------------------- generation + assembly


def _run(root, **over):
    paths = write_stage_files(root)
    cfg = gt_cfg(root, **over)
    q = root / "results/data/fx/gt/category_queries.parquet"
    e = root / "results/data/fx/gt/explanations.parquet"
    stats = generate_category_queries(paths["items"], q, cfg, domain="Yelp")
    assemble_explanations(paths["items"], paths["samples"], q, e, seed=cfg["seed"], max_categories=3, joiner="; ")
    return paths, cfg, q, e, stats


def test_offline_generation_writes_labelled_queries_without_cache(tmp_path):
    _, cfg, q, _, stats = _run(tmp_path)
    t = pq.read_table(q)
    assert t.schema.names == ["category", "kind", "query", "model", "prompt_version", "backend"]
    assert sorted(set(t["category"].to_pylist())) == CATEGORIES
    assert t.num_rows == len(CATEGORIES) * 2 * 3
    assert set(t["backend"].to_pylist()) == {"offline"}
    assert set(t["model"].to_pylist()) == {"offline-phrasebank-v1"}
    assert set(t["prompt_version"].to_pylist()) == {PROMPT_VERSION}
    assert stats["requests"] == 0
    assert not (tmp_path / "resources").exists()  # free responses are never cached


def test_outputs_are_byte_identical_on_rerun(tmp_path):
    _, _, q1, e1, _ = _run(tmp_path / "a")
    _, _, q2, e2, _ = _run(tmp_path / "b")
    assert q1.read_bytes() == q2.read_bytes()
    assert e1.read_bytes() == e2.read_bytes()


def test_assembled_explanations_follow_the_joining_rule(tmp_path):
    paths, _, q, e, _ = _run(tmp_path)
    t = pq.read_table(e)
    assert t.schema.names == ["sample_id", "split", "user_id", "item_id", "categories", "category_text",
                              "intent_text", "both_text", "backend", "model", "prompt_version"]
    assert t.schema.field("sample_id").type == pa.int64() and t.schema.field("categories").type == pa.list_(pa.string())
    n_samples = sum(pq.read_metadata(p).num_rows for p in paths["samples"])
    assert t.num_rows == n_samples and t["sample_id"].to_pylist() == sorted(t["sample_id"].to_pylist())
    assert set(t["split"].to_pylist()) == {"train", "valid", "test"}
    qt = pq.read_table(q).to_pydict()
    bank = {}
    for c, k, s in zip(qt["category"], qt["kind"], qt["query"]):
        bank.setdefault((c, k), set()).add(s)
    for row in t.to_pylist():
        want = list(dict.fromkeys(ITEM_CATEGORIES[row["item_id"]]))[:3]
        assert row["categories"] == want
        exp, imp = row["category_text"].split("; "), row["intent_text"].split("; ")
        assert len(exp) == len(imp) == len(want)
        assert all(x in bank[(c, "explicit")] for x, c in zip(exp, want))
        assert all(x in bank[(c, "implicit")] for x, c in zip(imp, want))
        assert row["both_text"].split("; ") == [x for pair in zip(exp, imp) for x in pair]
        assert row["backend"] == "offline"
    # item 3 lists Restaurants twice: deduped, item order kept, cut at 3
    assert [r["categories"] for r in t.to_pylist() if r["item_id"] == 3][0] == ["Restaurants", "Bars", "Pizza"]


def test_query_choice_is_seeded_per_sample(tmp_path):
    paths, cfg, q, e, _ = _run(tmp_path)
    base = pq.read_table(e).to_pydict()
    other = tmp_path / "seed1.parquet"
    assemble_explanations(paths["items"], paths["samples"], q, other, seed=1, max_categories=3, joiner="; ")
    assert pq.read_table(other)["both_text"].to_pylist() != base["both_text"]
    # a sample's text does not depend on which other samples exist
    only_test = tmp_path / "test_only.parquet"
    assemble_explanations(paths["items"], paths["samples"][2:], q, only_test, seed=0, max_categories=3, joiner="; ")
    sub = pq.read_table(only_test).to_pydict()
    full = dict(zip(base["sample_id"], base["both_text"]))
    assert sub["sample_id"] and all(full[s] == txt for s, txt in zip(sub["sample_id"], sub["both_text"]))


def test_bad_inputs_name_the_file(tmp_path):
    paths = write_stage_files(tmp_path, item_categories=[["A"], []])
    q = tmp_path / "q.parquet"
    generate_category_queries(paths["items"], q, gt_cfg(tmp_path), domain="Yelp")
    # a target item without any category has no ground truth: an error, not an empty text
    with pytest.raises(BadInputError, match="items.parquet.*item 1.*no category"):
        assemble_explanations(paths["items"], paths["samples"], q, tmp_path / "e.parquet", seed=0,
                              max_categories=3, joiner="; ")
    empty = write_stage_files(tmp_path / "empty", item_categories=[[], []])
    with pytest.raises(BadInputError, match="no item has any category"):
        generate_category_queries(empty["items"], q, gt_cfg(tmp_path), domain="Yelp")


# ---------------------------------------------------------------- cache CLI


def test_cache_cli_stats_list_clear(tmp_path, capsys):
    path = tmp_path / "c.sqlite"
    c = ResponseCache(path)
    for cat, backend in (("A", "anthropic"), ("B", "anthropic"), ("C", "other")):
        c.put(request_key(backend, "m", "s", cat, None, 10, "v"), backend=backend, model="m", prompt_version="v",
              category=cat, response="{}", stop_reason="end_turn", input_tokens=10, output_tokens=5, attempts=1)
    c.close()
    assert cache_mod.main(["stats", str(path)]) == 0
    assert "3 responses" in capsys.readouterr().out
    assert cache_mod.main(["clear", str(path), "--backend", "other"]) == 0
    assert "deleted 1" in capsys.readouterr().out
    assert cache_mod.main(["list", str(path)]) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.strip().splitlines()] == ["A", "B"]
    assert cache_mod.main(["clear", str(path)]) == 0 and len(ResponseCache(path)) == 0
