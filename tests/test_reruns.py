"""Exact reruns (issue 8): after a finished run of the real DAG, `snakemake -n` plans exactly the jobs
whose output a change can alter — nothing for reordered keys or run-control settings, only the
scorers for reporting settings, a stage and what follows it for that stage's settings or code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

CONFIG = {
    "datasets": {"y": {"format": "yelp", "synthetic": {"users": 150, "items": 200, "seed": 0}}},
    "preprocess": {"kcore": {"k": 5}, "test_subsample": 50},
    "sasrec": {"max_epochs": 2, "patience": 1},
    "eer": {"kinds": ["both"], "max_epochs": 1, "patience": 1},
    "eval": {"bootstrap": {"n": 200}},
    "methods": ["gt", "random", "empty"],  # the generators' reruns: tests/test_seg_train.py, test_workflow.py
}
DOWNSTREAM_OF_SPLIT = {"filter_and_split", "category_sequences", "embed_items", "gt_queries", "gt_assemble",
                       "pretrain_sasrec", "eval_sasrec", "train_eer", "explain_control", "score_utility",
                       "compare_utility", "score_text", "table1", "table2", "table3", "all"}
# what follows a method's explanations: its utility and text scores, comparisons, Tables 2 and 3
SCORING = {"score_utility", "compare_utility", "score_text", "table2", "table3", "all"}


class Workflow:
    """A copy of the workflow (so module edits stay in tmp) and a work directory."""

    def __init__(self, root: Path):
        self.repo, self.work = root / "repo", root / "work"
        self.work.mkdir(parents=True)
        for part in ("Snakefile", "rules", "workflow_scripts", "config", "profiles", "envs", "seller_core"):
            src = REPO / part
            if src.is_dir():
                shutil.copytree(src, self.repo / part, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                self.repo.mkdir(exist_ok=True)
                shutil.copy(src, self.repo / part)

    def run(self, config: dict, *args: str, sort_keys: bool = False) -> str:
        cfg = self.work / "config.yaml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=sort_keys))
        cmd = [SNAKEMAKE, "-s", str(self.repo / "Snakefile"), "--directory", str(self.work), "--configfile", str(cfg), *args]
        # the copy's seller_core must be the one imported, not the installed checkout's
        env = {**__import__("os").environ, "PYTHONPATH": str(self.repo)}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        return done.stdout + done.stderr

    def planned(self, config: dict, **kw) -> dict[str, int]:
        """rule -> job count of a dry run ({} when nothing is to be done)."""
        out = self.run(config, "-n", **kw)
        if "Nothing to be done" in out:
            return {}
        table = out[out.index("Job stats:"):].split("\n")
        return {m[1]: int(m[2]) for line in table if (m := re.match(r"^(\w+)\s+(\d+)$", line.strip())) and m[1] != "total"}


def with_(config: dict, path: str, value) -> dict:
    out = yaml.safe_load(yaml.safe_dump(config))
    *parents, last = path.split(".")
    node = out
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    wf = Workflow(tmp_path_factory.mktemp("reruns"))
    wf.run(CONFIG, "--cores", "2")
    assert wf.planned(CONFIG) == {}
    return wf


@pytest.mark.slow
def test_reordered_keys_rerun_nothing(finished):
    assert finished.planned(CONFIG, sort_keys=True) == {}
    reversed_cfg = {k: CONFIG[k] for k in reversed(list(CONFIG))}
    reversed_cfg["datasets"] = {"y": {"synthetic": {"seed": 0, "items": 200, "users": 150}, "format": "yelp"}}
    assert finished.planned(reversed_cfg) == {}


@pytest.mark.slow
def test_run_control_settings_rerun_nothing(finished):
    cfg = with_(CONFIG, "gt.max_cost_usd", 0.5)
    cfg = with_(cfg, "gt.concurrency", 1)
    cfg = with_(cfg, "gt.timeout_s", 5)
    cfg = with_(cfg, "embed.batch_size", 3)
    assert finished.planned(cfg) == {}


@pytest.mark.slow
def test_reporting_settings_rerun_only_the_scorers(finished):
    plan = finished.planned(with_(CONFIG, "eval.bootstrap.n", 300))
    assert set(plan) == {"eval_sasrec"} | SCORING
    assert plan["score_utility"] == 3 and plan["compare_utility"] == 2 and plan["score_text"] == 3


@pytest.mark.slow
def test_eer_setting_reruns_the_eer_and_what_follows(finished):
    plan = finished.planned(with_(CONFIG, "eer.lr", 1.0e-3))
    assert set(plan) == {"train_eer", "score_utility", "compare_utility", "table2", "all"}


@pytest.mark.slow
def test_data_setting_reruns_everything_downstream_of_it(finished):
    plan = finished.planned(with_(CONFIG, "preprocess.max_history", 20))
    assert set(plan) == DOWNSTREAM_OF_SPLIT


@pytest.mark.slow
def test_editing_a_module_reruns_exactly_its_users(finished):
    module = finished.repo / "seller_core/eval/utility.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# an edit\n")
        assert set(finished.planned(CONFIG)) == {"score_utility", "compare_utility", "table2", "all"}
        module.write_text(original)
        interface = finished.repo / "seller_core/explain/interface.py"
        kept = interface.read_text()
        interface.write_text(kept + "\n# an edit\n")
        try:
            assert set(finished.planned(CONFIG)) == {"explain_control"} | SCORING
        finally:
            interface.write_text(kept)
    finally:
        module.write_text(original)
    assert finished.planned(CONFIG) == {}  # same content again: nothing (checksums, not mtimes)


@pytest.mark.slow
def test_editing_a_workflow_script_reruns_its_rule_and_what_follows(finished):
    script = finished.repo / "workflow_scripts/explain_control.py"
    original = script.read_text()
    try:
        script.write_text(original + "\n# an edit\n")
        assert set(finished.planned(CONFIG)) == {"explain_control"} | SCORING
    finally:
        script.write_text(original)
        finished.run(CONFIG, "--cores", "2")  # a script's edit is judged by mtime: bring outputs up to date


TOY_RULE = """
rule explain_toy:
    input:
        test="results/data/{ds}/samples_test.parquet",
        item_table="results/data/{ds}/items.parquet",
        code=code("explain_toy.py"),
    output:
        "results/explanations/{ds}/toy.parquet",
    log:
        "results/logs/explain_toy/{ds}.log",
    benchmark:
        "results/benchmarks/explain_toy/{ds}.tsv"
    params:
        data_source=lambda w: data_source(w.ds),
    script:
        "../../workflow_scripts/explain_toy.py"
"""
TOY_SCRIPT = """
import _repo_on_path  # noqa: F401
import pandas as pd
from seller_core.explain.interface import write_explanations

test = pd.read_parquet(snakemake.input.test)
items = pd.read_parquet(snakemake.input.item_table).set_index("item_id")
texts = ["; ".join(items.loc[i, "categories"]) for i in test["item_id"]]
write_explanations(snakemake.output[0], test, texts,
                   {"method": "toy", "seed": 0, "gt_backend": "none", "data_source": snakemake.params.data_source})
"""


@pytest.mark.slow
def test_a_new_method_needs_only_its_rule_and_a_config_entry(finished):
    """docs/adding-a-method.md: one rule file in rules/methods/ and one `methods:` entry; it is then
    generated, scored by the EER and compared with the reference, and nothing else reruns."""
    (finished.repo / "rules/methods/toy.smk").write_text(TOY_RULE)
    (finished.repo / "workflow_scripts/explain_toy.py").write_text(TOY_SCRIPT)
    try:
        cfg = with_(CONFIG, "methods", ["gt", "random", "empty", "toy"])
        assert finished.planned(cfg) == {"explain_toy": 1, "score_utility": 1, "compare_utility": 1, "score_text": 1,
                                         "table2": 1, "table3": 1, "all": 1}
        finished.run(cfg, "--cores", "2")
        metrics = yaml.safe_load((finished.work / "results/metrics/y/utility/both/toy.json").read_text())
        assert metrics["provenance"]["method"]["method"] == "toy"
        paired = yaml.safe_load((finished.work / "results/metrics/y/utility/both/paired/gt/toy.json").read_text())
        assert paired["b"] == "toy"
        assert finished.planned(cfg) == {}
    finally:
        (finished.repo / "rules/methods/toy.smk").unlink()
        (finished.repo / "workflow_scripts/explain_toy.py").unlink()
