"""The validation probe (seller_core/eval/probe.py) and the learning-curve script (bench/seg_learning.py)
on the tiny SEG fixtures: the three teacher-forced losses, the text metrics on hand-made texts, the
EER columns against a direct computation, and the script end to end."""

import copy
import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from seg_fixtures import make_dataset, save_backbone, seg_cfg
from seller_core.eval import ranking
from seller_core.eval.probe import STOCK_PHRASES, Probe, named_categories, probe_subset, text_scores, _pattern
from seller_core.llm.adapter_train import batch_of, lm_loss
from seller_core.llm.backbone import load_backbone
from seller_core.llm.inject import Injector
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import shared_prefix
from seller_core.models.eer import EER, EERConfig
from seller_core.models.sasrec import load_sasrec
from seller_core.methods.seller.train import prompt_builder, read_seg_samples

GEN = {"batch_size": 4, "max_new_tokens": 6, "stop": ["\n"], "do_sample": False}
EVAL = {"ks": [5, 10], "mask_history": False, "batch_size": 512}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("probe")
    paths = make_dataset(tmp)
    model, tok = load_backbone(save_backbone(tmp), "cpu", "float32")
    cfg = seg_cfg()
    valid = read_seg_samples(paths["train"].parent / "samples_valid.parquet", paths["category_texts"], paths["gt"],
                             12, "both")
    builder = prompt_builder(tok, cfg)
    rows = [builder.encode(c, x) for c, x in zip(valid["category_text"], valid["explanation"])]
    prefix = PrefixCache.build(model, shared_prefix(rows, builder.prefix_len()))
    inj = Injector(model).install()
    yield {"model": model, "tok": tok, "rows": rows, "prefix": prefix, "inj": inj, "valid": valid, "paths": paths}
    inj.remove()


def make_probe(s, vectors, **kw):
    targets = [["comedy"]] * len(s["rows"])
    return Probe(s["model"], s["tok"], s["inj"], s["rows"], vectors, targets, ["comedy", "sushi"], GEN,
                 samples=s["valid"], prefix=s["prefix"], **kw)


def random_vectors(n, seed=0):
    V = torch.randn(n, 2, 64, generator=torch.Generator().manual_seed(seed))  # (n, K=2, H=64)
    return V, (lambda idx: V[torch.as_tensor(idx)])


def test_zero_vectors_give_the_zero_loss(setup):
    row = make_probe(setup, lambda idx: torch.zeros(len(idx), 2, 64)).run(0)
    assert row["loss_own"] == row["loss_zero"] == row["loss_rolled"] and row["gap_rolled"] == 0
    assert len(row["texts"]) == len(setup["rows"]) and row["step"] == 0 and row["seconds"] > 0


def test_losses_are_token_weighted_means_over_the_set(setup):
    n = len(setup["rows"])
    V, vec = random_vectors(n)
    # batches of 4 over 6 samples: a mean of the two batch means would not be the token-weighted mean
    probe = make_probe(setup, vec, loss_batch=4)
    row = probe.run(3)
    assert row["loss_own"] != pytest.approx(row["loss_rolled"], abs=1e-4)
    assert row["loss_own"] != pytest.approx(row["loss_zero"], abs=1e-4)
    model, tok, inj, rows = setup["model"], setup["tok"], setup["inj"], setup["rows"]
    # one batch with every sample, whole rows (no prefix cache): the same numbers
    batch = batch_of(rows, tok.pad_token_id, "cpu", with_target=True)
    with torch.no_grad():
        own = float(lm_loss(model, inj, batch, V))
        inj.clear()
        rolled = float(lm_loss(model, inj, batch, V[[(i - 1) % n for i in range(n)]]))  # i gets i-1's
        inj.clear()
        zero = float(lm_loss(model, inj, batch, torch.zeros_like(V)))
        inj.clear()
    assert row["loss_own"] == pytest.approx(own, abs=1e-5)
    assert row["loss_rolled"] == pytest.approx(rolled, abs=1e-5)
    assert row["loss_zero"] == pytest.approx(zero, abs=1e-5)
    # and the probe is deterministic: the same weights give the same row
    again = probe.run(3)
    assert again["loss_own"] == row["loss_own"] and again["texts"] == row["texts"]


def test_eer_columns_match_a_direct_ranking(setup):
    n = len(setup["rows"])
    _, vec = random_vectors(n, seed=1)
    torch.manual_seed(0)
    sas = load_sasrec(setup["paths"]["sasrec"])
    eer = EER(copy.deepcopy(sas), EERConfig(e_dim=3, hidden=4)).eval()
    for p in eer.parameters():  # nonzero hyper-network output: the text must matter
        torch.nn.init.normal_(p, std=0.3)

    def embed_fn(texts):  # a stand-in sentence encoder: deterministic per text
        return np.array([[len(t), t.count("e"), 1.0] for t in texts], dtype=np.float32)

    probe = make_probe(setup, vec, eer=eer, embed_fn=embed_fn, eval_cfg=EVAL, n_items=12)
    row = probe.run(0)
    ranks = ranking.model_ranks(eer, setup["valid"], 12, EVAL, cond=embed_fn(row["texts"]))
    assert row["eer_ndcg10"] == pytest.approx(ranking.metrics_from_ranks(ranks, [10])["ndcg@10"])
    empty = ranking.model_ranks(eer, setup["valid"], 12, EVAL, cond=embed_fn([""] * n))
    assert row["eer_ndcg10_empty"] == pytest.approx(ranking.metrics_from_ranks(empty, [10])["ndcg@10"])
    assert row["eer_recall10"] == pytest.approx(ranking.metrics_from_ranks(ranks, [10])["recall@10"])


def test_text_scores_on_hand_made_texts():
    texts = ["more sushi like this", "wine bars and bars", "", "more sushi like this", "nothing here", "Comedy, games"]
    targets = [["Sushi"], ["Bars"], ["Food"], ["Pets"], ["Food"], ["Games"]]
    names = ["Sushi", "Bars", "Wine Bars", "Food", "Pets", "Comedy", "Games"]
    s = text_scores(texts, targets, names)
    assert s["hit_rate"] == pytest.approx(3 / 6)  # texts 0, 1, 5
    # names found: {sushi} {wine bars, bars} {sushi} {comedy, games} = 6, of which the target's: 3
    assert s["name_precision"] == pytest.approx(3 / 6)
    assert s["named_share"] == pytest.approx(4 / 6)
    assert s["distinct"] == pytest.approx(5 / 6) and s["empty"] == pytest.approx(1 / 6)
    pats = {c.lower(): _pattern(c) for c in names}
    # whole phrases only; a name inside a longer matched name is not counted on its own
    assert named_categories("sushibar and wine bars", pats) == {"wine bars"}
    assert named_categories("Wine Bars, then bars", pats) == {"wine bars", "bars"}
    assert np.isnan(text_scores(["nothing"], [["Food"]], names)["name_precision"])
    with pytest.raises(ValueError):
        text_scores(["a"], [], names)


def test_probe_subset_is_seeded_and_keeps_file_order(setup):
    v = setup["valid"]
    a, b = probe_subset(v, 4, 0), probe_subset(v, 4, 0)
    assert a["sample_id"].tolist() == b["sample_id"].tolist() == sorted(a["sample_id"].tolist())
    assert probe_subset(v, 4, 1)["sample_id"].tolist() != a["sample_id"].tolist() or len(v) <= 4
    assert len(probe_subset(v, 100, 0)) == len(v)


def test_learning_script_end_to_end(tmp_path):
    results = tmp_path / "results"
    make_dataset(results, ds="tiny")
    backbone = save_backbone(tmp_path)
    seg = {k: v for k, v in seg_cfg().items() if k != "seed"}
    seg["generate"] = {"batch_size": 4, "max_new_tokens": 6, "stop": ["\n"]}
    config = {"datasets": {"tiny": {"format": "yelp", "synthetic": {"users": 6, "items": 12}}}, "seeds": [0],
              "seg": seg, "llm": {"device": "cpu", "dtype": "float32"}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    spec = importlib.util.spec_from_file_location("seg_learning", Path(__file__).resolve().parent.parent / "bench" / "seg_learning.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "out" / "curve"
    curve = mod.main(["--results", str(results), "--backbone", str(backbone), "--dataset", "tiny", "--config",
                      str(tmp_path / "config.yaml"), "--steps", "4", "--every", "2", "--threads", "1",
                      "--set", "lr=3e-2", "--set", "generate.batch_size=2", "--no-eer", "--out", str(out)])
    with open(out.with_suffix(".csv")) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [0, 2, 4] == [c["step"] for c in curve]
    assert all(float(r["lr"]) == 3e-2 and int(r["max_steps"]) == 4 and r["dataset"] == "tiny" for r in rows)
    assert json.loads(rows[0]["overrides"]) == {"lr": 3e-2, "generate.batch_size": 2}
    assert rows[0]["loss_zero"] == rows[-1]["loss_zero"]  # the frozen LM's, whatever the adapter
    assert float(rows[-1]["loss_own"]) < float(rows[0]["loss_own"])  # lr 3e-2 on 18 samples: it learns
    assert all(r["eer_ndcg10"] == "" for r in rows)  # --no-eer
    assert out.with_suffix(".png").stat().st_size > 10_000
    texts = json.loads((tmp_path / "out" / "curve.texts.json").read_text())
    assert set(texts["texts"]) == {"0", "2", "4"} and len(texts["texts"]["4"]) == len(texts["sample_id"]) == 6

    # --shuffle-at: own vs shuffled at those steps (also probed), one CSV row and one JSON entry each
    out2 = tmp_path / "out" / "shuf"
    curve = mod.main(["--results", str(results), "--backbone", str(backbone), "--dataset", "tiny", "--config",
                      str(tmp_path / "config.yaml"), "--steps", "4", "--every", "0", "--threads", "1", "--skip-first",
                      "--set", "lr=3e-2", "--set", "generate.batch_size=2", "--no-eer", "--out", str(out2),
                      "--shuffle-at", "3", "--shuffle"])
    assert [c["step"] for c in curve] == [3, 4]
    with open(Path(str(out2) + ".shuffle.csv")) as f:
        shuf = list(csv.DictReader(f))
    assert [int(r["step"]) for r in shuf] == [3, 4] and all(int(r["n"]) == 6 for r in shuf)
    by_step = json.loads(Path(str(out2) + ".shuffle.json").read_text())["by_step"]
    assert set(by_step) == {"3", "4"}
    assert by_step["4"]["texts"]["own"] == json.loads(Path(str(out2) + ".texts.json").read_text())["texts"]["4"]


def test_stock_share_counts_texts_with_a_stock_phrase():
    texts = ["I'm glad to help! More sushi.", "more sushi like this", "Sure! games right now", "help with games"]
    targets = [["Sushi"], ["Sushi"], ["Games"], ["Games"]]
    s = text_scores(texts, targets, ["Sushi", "Games"])
    assert s["stock_share"] == pytest.approx(2 / 4)  # texts 0 and 2 (case-insensitive); "help" alone is not stock
    assert text_scores(["help me", "so happy", "helpful"], [[]] * 3, [])["stock_share"] == 0.0
    one_each = [p.upper() for p in STOCK_PHRASES]  # every phrase counts, whatever its case
    assert text_scores(one_each, [[]] * len(one_each), [])["stock_share"] == 1.0
    assert text_scores(["", "As an AI, I cannot"], [[], []], [])["stock_share"] == pytest.approx(0.5)
