"""bench/baseline_probe.py end to end on the tiny fixtures: XRec and PEPLER trained through their
rule functions into a tmp results/ layout, an EER saved as the pipeline saves one (with a stand-in
sentence encoder), then the probe over the validation samples. The probe's greedy texts must be the
explain rules' texts for the same samples (its prompts, vectors and injection are built as theirs),
and its probe set the one bench/seg_learning.py uses."""

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from gt_fixtures import gt_cfg
from llm_baseline_fixtures import LLM, PROFILE_CFG, make_baseline_dataset
from seg_fixtures import save_backbone
from seller_core.eval.probe import probe_subset
from seller_core.explain.interface import read_explanations
from seller_core.gt.profiles import generate_profiles
from seller_core.models.eer import EER, EERConfig
from seller_core.models.sasrec import load_sasrec
from seller_core.text import embed
from seller_core.train.eer_train import save_eer
from seller_core.methods.pepler.train import explain_pepler_rule, train_pepler_rule
from seller_core.methods.seller.train import read_seg_samples
from seller_core.methods.xrec.train import explain_xrec_rule, train_xrec_rule

GEN = {"batch_size": 3, "max_new_tokens": 6, "stop": ["\n"], "do_sample": False}
COMMON = dict(max_target_tokens=16, lr=1e-2, weight_decay=0.0, batch_size=4, epochs=2, max_train_samples="all",
              log_every=1, seed=0)
XREC = dict(COMMON, system_prompt="say what the user is looking for", max_name_tokens=4, max_profile_tokens=8,
            n_experts=2, dropout=0.2, noise=True, init_std=0.02)
PEPLER = dict(COMMON, bos_token=None, init_range=0.1, stage2=False, stage2_epochs=1, stage2_lr=1e-3)
ENCODER = "stand-in-encoder"


class StandInEncoder:
    """sentence-transformers' encode() on a deterministic per-text embedding (3-d)."""

    def encode(self, texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False):
        return np.array([[len(t), t.count("e"), 1.0] for t in texts], dtype=np.float32)

    def get_embedding_dimension(self):
        return 3


def load_script():
    path = Path(__file__).resolve().parent.parent / "bench" / "baseline_probe.py"
    spec = importlib.util.spec_from_file_location("baseline_probe", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("baseline_probe")
    results = tmp / "results"
    paths = make_baseline_dataset(results, ds="tiny")
    generate_profiles(paths["item_table"], paths["users"], paths["interactions"], paths["profiles"], gt_cfg(tmp),
                      PROFILE_CFG, "Yelp")
    backbone = save_backbone(tmp)
    inp = {"backbone": str(backbone), "train": str(paths["train"]), "gt": str(paths["gt"]), "users": str(paths["users"]),
           "item_table": str(paths["item_table"]), "lightgcn": str(paths["lightgcn"]), "profiles": str(paths["profiles"])}
    for m, rule, cfg in (("xrec", train_xrec_rule, XREC), ("pepler", train_pepler_rule, PEPLER)):
        d = results / "models" / "tiny" / m  # the default seed's run: no seed tag
        out = {"model": str(d / "model.pt"), "history": str(d / "history.json"), "cost": str(d / "cost.json")}
        rule(inp, out, tmp / "ckpt" / f"{m}.pt", cfg, LLM, "both")
    torch.manual_seed(0)
    eer = EER(load_sasrec(paths["sasrec"]), EERConfig(e_dim=3, hidden=4)).eval()
    for p in eer.parameters():  # nonzero hyper-network output: the text matters
        torch.nn.init.normal_(p, std=0.3)
    eer_dir = results / "models" / "tiny" / "eer" / "both"
    save_eer(eer, [], eer_dir / "model.pt", eer_dir / "history.json", {}, ENCODER, "both")
    # the explain rules on the validation samples: the texts the probe must reproduce
    valid = results / "data" / "tiny" / "samples_valid.parquet"
    explained = {}
    for m, rule in (("xrec", explain_xrec_rule), ("pepler", explain_pepler_rule)):
        exp = tmp / "explanations" / f"{m}.parquet"
        rule({**inp, "model": str(results / "models" / "tiny" / m / "model.pt"), "test": str(valid)},
             {"explanations": str(exp), "cost": str(tmp / "explanations" / f"{m}.cost.json")}, GEN, "synthetic")
        explained[m] = read_explanations(exp, pd.read_parquet(valid))
    config = {"datasets": {"tiny": {"format": "yelp", "synthetic": {"users": 6, "items": 12}}}, "seeds": [0],
              "llm": {"device": "cpu", "dtype": "float32"}, "embed": {"model": ENCODER},
              "xrec": {"generate": GEN}, "pepler": {"generate": GEN}}
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    return {"tmp": tmp, "results": results, "backbone": backbone, "explained": explained, "valid": valid,
            "paths": paths}


def test_probe_set_is_seg_learnings(trained):
    """The same validation sample ids as bench/seg_learning.py's probe, with the GT text of the kind."""
    mod = load_script()
    data = trained["results"] / "data" / "tiny"
    seg = probe_subset(read_seg_samples(trained["valid"], data / "category_texts.parquet",
                                        data / "gt" / "explanations.parquet", 12, "both"), 4, 3)
    df, n_users, n_items = mod.valid_probe(data, "intent", 4, 3)
    assert df["sample_id"].tolist() == seg["sample_id"].tolist() and len(df) == 4 and (n_users, n_items) == (6, 12)
    gt = pd.read_parquet(data / "gt" / "explanations.parquet").set_index("sample_id")
    assert df["explanation"].tolist() == [gt.at[s, "intent_text"] for s in df["sample_id"]]
    assert [list(h) for h in df["history"]] == [list(h) for h in seg["history"]]


def test_baseline_probe_end_to_end(trained, monkeypatch):
    monkeypatch.setattr(embed, "load_encoder", lambda name, device="cpu": StandInEncoder())
    mod = load_script()
    out = trained["tmp"] / "out" / "tiny"
    table = mod.main(["--results", str(trained["results"]), "--backbone", str(trained["backbone"]), "--dataset",
                      "tiny", "--config", str(trained["tmp"] / "config.yaml"), "--probe-n", "256", "--probe-seed", "0",
                      "--threads", "1", "--methods", "xrec,pepler", "--out", str(out)])
    with open(out.with_suffix(".csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["xrec", "pepler"] == [t["method"] for t in table]
    assert list(rows[0])[:len(mod.COLUMNS)] == mod.COLUMNS
    n_valid = len(pd.read_parquet(trained["valid"]))
    steps = 2 * -(-18 // 4)  # 2 epochs of the 18 training samples in batches of 4
    for r in rows:
        assert int(r["n"]) == n_valid and int(r["step"]) == steps and r["kind"] == "both"
        assert float(r["gap_rolled"]) == pytest.approx(float(r["loss_rolled"]) - float(r["loss_own"]), abs=1e-4)
        assert 0 <= float(r["stock_share"]) <= 1 and r["eer_ndcg10"] != "" and float(r["seconds"]) > 0
    assert rows[0]["eer_ndcg10_empty"] == rows[1]["eer_ndcg10_empty"]  # one EER, one probe set
    texts = json.loads(Path(str(out) + ".texts.json").read_text())
    assert texts["sample_id"] == pd.read_parquet(trained["valid"])["sample_id"].tolist()
    for m in ("xrec", "pepler"):  # prompts, vectors and injection as the explain rules build them
        assert texts["texts"][m] == trained["explained"][m] and any(texts["texts"][m])
    # --no-eer and one method: no EER columns, the same texts
    again = mod.main(["--results", str(trained["results"]), "--backbone", str(trained["backbone"]), "--dataset", "tiny",
                      "--config", str(trained["tmp"] / "config.yaml"), "--threads", "1", "--methods", "pepler",
                      "--no-eer", "--out", str(out) + "_noeer"])
    assert len(again) == 1 and "eer_ndcg10" not in again[0] and again[0]["loss_own"] == table[1]["loss_own"]
    with pytest.raises(SystemExit, match="expected a comma-separated subset"):
        mod.main(["--methods", "peter", "--config", str(trained["tmp"] / "config.yaml")])
