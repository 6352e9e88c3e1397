"""Exact reruns (issue 8): after a finished run of the real DAG, `snakemake -n` plans exactly the jobs
whose output a change can alter — nothing for reordered keys or run-control settings, only the
scorers for reporting settings, a stage and what follows it for that stage's settings or code."""

from __future__ import annotations

import csv
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
                       "pretrain_sasrec", "eval_sasrec", "train_eer", "explain_controls", "score_utility",
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
            assert set(finished.planned(CONFIG)) == {"explain_controls"} | SCORING
        finally:
            interface.write_text(kept)
        # a method's module: its own rules and what follows them, no other method's
        controls = finished.repo / "seller_core/methods/controls/__init__.py"
        kept = controls.read_text()
        controls.write_text(kept + "\n# an edit\n")
        try:
            assert set(finished.planned(CONFIG)) == {"explain_controls"} | SCORING
        finally:
            controls.write_text(kept)
    finally:
        module.write_text(original)
    assert finished.planned(CONFIG) == {}  # same content again: nothing (checksums, not mtimes)


@pytest.mark.slow
def test_editing_a_workflow_script_reruns_its_rule_and_what_follows(finished):
    script = finished.repo / "workflow_scripts/explain_method.py"
    original = script.read_text()
    try:
        script.write_text(original + "\n# an edit\n")
        assert set(finished.planned(CONFIG)) == {"explain_controls"} | SCORING
    finally:
        script.write_text(original)
        finished.run(CONFIG, "--cores", "2")  # a script's edit is judged by mtime: bring outputs up to date


# docs/adding-a-method.md, to the letter: a trainable method is its module (with its config section's
# schema beside it) and its config section; nothing else in the project changes.
TOY_MODULE = '''
"""toy: explains with the training targets' most frequent categories among the target item's own."""
from collections import Counter

from seller_core.methods.base import Method


class Toy(Method):
    name = section = "toy"
    label = "Toy"
    trains = True
    run_keys = ("log_every",)
    train_inputs = {"train": "results/data/{ds}/samples_train.parquet",
                    "item_table": "results/data/{ds}/items.parquet"}
    explain_inputs = {"test": "results/data/{ds}/samples_test.parquet",
                      "item_table": "results/data/{ds}/items.parquet"}

    def train(self, inputs, outputs, ckpt, settings, run, threads):
        import time

        import pandas as pd

        from seller_core.data.io import write_json
        from seller_core.runtime import save_atomic

        t0 = time.perf_counter()
        items = pd.read_parquet(inputs["item_table"]).set_index("item_id")["categories"]
        train = pd.read_parquet(inputs["train"])
        counts = Counter(c for i in train["item_id"] for c in items.loc[i])
        save_atomic({"counts": dict(counts), "toy": settings["toy"]}, outputs["model"])
        write_json({"categories": len(counts)}, outputs["history"])
        write_json({"stage": "train_toy", "device": "cpu", "wall_seconds": time.perf_counter() - t0},
                   outputs["cost"])

    def explain(self, inputs, outputs, settings, run, threads):
        import time

        import pandas as pd
        import torch

        from seller_core.data.io import write_json
        from seller_core.explain.interface import write_explanations

        t0 = time.perf_counter()
        model = torch.load(inputs["model"], weights_only=False)
        top, counts = model["toy"]["top"], model["counts"]
        items = pd.read_parquet(inputs["item_table"]).set_index("item_id")["categories"]
        test = pd.read_parquet(inputs["test"])
        texts = ["; ".join(sorted(items.loc[i], key=lambda c: -counts.get(c, 0))[:top]) for i in test["item_id"]]
        write_explanations(outputs["explanations"], test, texts,
                           {"method": settings["run"], "seed": model["toy"]["seed"], "gt_backend": "none",
                            "data_source": settings["data_source"]})
        write_json({"stage": "explain_toy", "device": "cpu", "wall_seconds": time.perf_counter() - t0,
                    "new_tokens": sum(len(t.split()) for t in texts)}, outputs["cost"])


METHOD = Toy()
'''
TOY_SCHEMA = """
type: object
additionalProperties: false
default: {}
properties:
  top: {type: integer, minimum: 1, default: 1, description: "categories named per explanation"}
  log_every: {type: integer, minimum: 1, default: 10, description: "run control"}
"""


@pytest.mark.slow
def test_a_new_trainable_method_is_its_module_and_its_config_section(finished):
    """A toy trainable method, added as docs/adding-a-method.md says: snakemake trains it, explains the
    test set with it, scores it and puts it in Tables 2, 3 and 5; nothing else reruns; a setting of
    its section reruns it and what follows, its run control nothing."""
    module, schema = finished.repo / "seller_core/methods/toy.py", finished.repo / "seller_core/methods/toy.schema.yaml"
    module.write_text(TOY_MODULE)
    schema.write_text(TOY_SCHEMA)
    try:
        cfg = with_(CONFIG, "methods", ["gt", "random", "empty", "toy"])
        cfg = with_(cfg, "toy", {"top": 2})
        cfg = with_(cfg, "report", {"focus": "toy", "baselines": ["random"], "cost_reference": "toy"})
        plan = finished.planned(cfg)
        # scoring: the toy's utility and text; paired: gt (the reference) vs toy, and toy (the focus) vs the rest
        assert plan == {"train_toy": 1, "explain_toy": 1, "score_utility": 1, "compare_utility": 4, "score_text": 1,
                        "table2": 1, "table3": 1, "table5": 1, "all": 1}, plan
        finished.run(cfg, "--cores", "2")
        work = finished.work
        assert (work / "results/models/y/toy/model.pt").is_file()
        t2 = {r["method"]: r for r in csv.DictReader(open(work / "results/tables/table2.csv"))}
        assert set(t2) == {"gt", "random", "empty", "toy", "improve_over_best_baseline"}
        assert t2["random"]["toy_minus_this_ndcg@10"] != ""  # the paired column follows report.focus
        t3 = {r["method"] for r in csv.DictReader(open(work / "results/tables/table3.csv"))}
        assert t3 == {"gt", "random", "empty", "toy"}
        t5 = list(csv.DictReader(open(work / "results/tables/table5.csv")))
        assert [r["method"] for r in t5] == ["toy"] and float(t5[0]["train_rel_toy"]) == 1.0
        md = (work / "results/tables/table2.md").read_text()
        assert "p (Toy vs, NDCG@10)" in md and "Toy relative to the best of random" in md
        metrics = yaml.safe_load((work / "results/metrics/y/utility/both/toy.json").read_text())
        assert metrics["provenance"]["method"]["method"] == "toy"
        assert finished.planned(cfg) == {}
        assert finished.planned(with_(cfg, "toy.log_every", 3)) == {}  # run control
        plan = finished.planned(with_(cfg, "toy.top", 1))
        assert set(plan) == {"train_toy", "explain_toy", "score_utility", "compare_utility", "score_text", "table2",
                             "table3", "table5", "all"}, plan
        with pytest.raises(AssertionError, match="config key toy.top"):
            finished.planned(with_(cfg, "toy.top", 0))  # the fragment validates the section
    finally:
        module.unlink()
        schema.unlink()
