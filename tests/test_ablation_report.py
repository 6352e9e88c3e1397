"""Figure 2 and Table 4 from metrics files: every variant and the empty reference reach the figure's
CSV with its own numbers, the caption says when the setting is not the paper's, and Table 4 pairs each
row with the EER of its GT kind."""

import csv
import json

import pytest

from seller_core.report import figures, tables

# the shape score_utility writes (a SEG variant's provenance names its backbone)
PROV = {"data_source": "synthetic", "gt_backend": "offline", "encoder": "enc-x", "eer": {"gt_kind": "both"},
        "method": {"backbone": {"name_or_path": "resources/llm/tiny-llama", "architecture": "LlamaForCausalLM",
                                "n_layers": 2, "hidden_size": 64, "dtype": "torch.float32"}, "device": "cpu"}}


def utility_json(path, method, kind, ndcg, recall):
    ci = {k: {"lo": v - 0.01, "hi": v + 0.01} for k, v in (("ndcg@10", ndcg), ("recall@10", recall))}
    prov = {**PROV, "eer": {"gt_kind": kind}}
    path.write_text(json.dumps({"method": method, "eer_kind": kind, "n_cases": 40, "provenance": prov,
                                "metrics": {"ndcg@10": ndcg, "recall@10": recall}, "ci": ci}))
    return path


def text_json(path, bertscore, hit):
    ci = {k: {"lo": v - 0.02, "hi": v + 0.02} for k, v in (("bertscore_f1", bertscore), ("category_hit", hit))}
    path.write_text(json.dumps({"metrics": {"bertscore_f1": bertscore, "category_hit": hit}, "ci": ci,
                                "provenance": PROV}))
    return path


def test_fig2_draws_every_variant_and_the_empty_reference(tmp_path):
    methods = list(figures.LABELS)
    util = {"d": {m: utility_json(tmp_path / f"u_{m}.json", m, "both", 0.01 * (i + 1), 0.02 * (i + 1))
                  for i, m in enumerate(methods)}}
    text = {"d": {m: text_json(tmp_path / f"t_{m}.json", 0.3 + 0.01 * i, 0.1 * i) for i, m in enumerate(methods)}}
    ref = {"d": utility_json(tmp_path / "empty.json", "empty", "both", 0.033, 0.066)}
    figures.fig2(util, text, tmp_path / "fig2.png", tmp_path / "fig2.csv", ref)

    assert (tmp_path / "fig2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "fig2.csv", newline="") as f:
        rows = {(r["method"], r["metric"]): r for r in csv.DictReader(f)}
    for i, m in enumerate(methods):  # each variant's own numbers, not another's
        assert float(rows[(m, "ndcg@10")]["mean"]) == pytest.approx(0.01 * (i + 1))
        assert float(rows[(m, "category_hit")]["mean"]) == pytest.approx(0.1 * i)
    assert float(rows[("empty", "ndcg@10")]["mean"]) == pytest.approx(0.033)
    assert ("empty", "bertscore_f1") not in rows  # the reference line is on the utility panels only
    caption = figures.ablation_caption([json.loads(p.read_text()) for p in util["d"].values()])
    assert caption.startswith("NOT the paper's setting")
    assert "backbone: resources/llm/tiny-llama (LlamaForCausalLM)" in caption


def test_table4_scores_each_row_with_its_own_kind(tmp_path):
    rows = {"random_category": ("random_category", "category", 0.002), "category": ("seller_kind_category", "category", 0.03),
            "intent": ("seller_kind_intent", "intent", 0.02), "both": ("seller", "both", 0.04)}
    paths = {"tiny_yelp": {r: utility_json(tmp_path / f"{r}.json", m, k, v, 2 * v) for r, (m, k, v) in rows.items()}}
    tables.table4(paths, {"tiny_yelp": "yelp"}, tmp_path / "t4.csv", tmp_path / "t4.md")
    with open(tmp_path / "t4.csv", newline="") as f:
        got = {r["row"]: r for r in csv.DictReader(f)}
    for r, (m, k, v) in rows.items():
        assert (got[r]["method"], got[r]["eer_kind"]) == (m, k)
        assert float(got[r]["ndcg@10"]) == pytest.approx(v)
    assert got["both"]["paper_ndcg@10"] == "0.0116"  # the paper's number beside ours
    md = (tmp_path / "t4.md").read_text()
    assert "Not the paper's setting" in md and "synthetic" in md
    assert "EER kinds `both`, `category`, `intent`" in md  # each row's own kind, not the first row's
    assert "`resources/llm/tiny-llama` (LlamaForCausalLM, 2 layers x 64" in md
