"""Runs of the real Snakefile: config validation, the data stages end to end, and rerun behaviour."""

from __future__ import annotations

import csv
import shutil
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
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
])
def test_bad_config_is_rejected_naming_the_key(tmp_path, config, key):
    run = snakemake(tmp_path, config, "-n", "results/tables/table1.csv")
    assert run.returncode != 0
    assert key in run.stdout + run.stderr


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


@pytest.mark.slow
def test_whole_dag_on_a_tiny_config(tmp_path):
    """Every rule of the main target, end to end, on one tiny dataset with very short training."""
    config = {
        "datasets": {"y": TINY["datasets"]["y"]},
        "preprocess": TINY["preprocess"],
        "sasrec": {"max_epochs": 3, "patience": 2},
        "eer": {"kinds": ["both"], "max_epochs": 2, "patience": 1},
        "eval": {"bootstrap": {"n": 200}},
    }
    run = snakemake(tmp_path, config, "--cores", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    for m in ("gt", "random", "empty"):
        metrics = json.loads((tmp_path / f"results/metrics/y/utility/{m}.json").read_text())
        ranks = pq.read_table(tmp_path / f"results/metrics/y/utility/{m}.ranks.parquet")
        assert ranks.num_rows == pq.read_table(tmp_path / "results/data/y/samples_test.parquet").num_rows
        assert 0.0 <= metrics["metrics"]["ndcg@10"] <= metrics["metrics"]["recall@10"] <= 1.0
    assert (tmp_path / "results/metrics/y/utility/paired/gt/random.json").exists()
    again = snakemake(tmp_path, config, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_code_edits_rerun_exactly_the_jobs_that_use_the_code(tmp_path):
    """The seller_core modules a rule imports are among its inputs (rules/common.smk: code()), and
    Snakemake reruns a rule whose script changed: edit either, and only that stage and what
    depends on it reruns. Runs on a copy of the workflow so the edits stay in tmp_path."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for part in ("Snakefile", "rules", "workflow_scripts", "config", "profiles", "envs", "seller_core"):
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, repo / part)  # __pycache__ too: harmless
    work = tmp_path / "work"
    work.mkdir()

    def run(*args):
        cfg = work / "config.yaml"
        cfg.write_text(yaml.safe_dump(TINY))
        cmd = [SNAKEMAKE, "-s", str(repo / "Snakefile"), "--directory", str(work), "--configfile", str(cfg), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=900)

    first = run("--cores", "2", *DATA_TARGETS)
    assert first.returncode == 0, first.stderr[-3000:]
    module = repo / "seller_core/data/categories.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    out = run("-n", *DATA_TARGETS).stdout
    assert "rule category_sequences:" in out
    assert "rule filter_and_split:" not in out and "rule table1:" not in out

    assert run("--cores", "2", *DATA_TARGETS).returncode == 0
    script = repo / "workflow_scripts/table1.py"
    script.write_text(script.read_text() + "\n# an edit\n")
    out = run("-n", *DATA_TARGETS).stdout
    assert "rule table1:" in out
    assert "rule category_sequences:" not in out and "rule filter_and_split:" not in out
