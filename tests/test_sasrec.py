"""SASRec: causality, padding, training windows, negatives, seeding, resuming, and that it beats
a most-popular baseline on data with sequential structure."""

import numpy as np
import pandas as pd
import pytest
import torch

from recommender_fixtures import make_data
from seller_core.eval import ranking
from seller_core.eval.sasrec_eval import popularity_ranks, popularity_scores
from seller_core.models.sasrec import SASRec, SASRecConfig, pad_left
from seller_core.data import sequences
from seller_core.train import loop
from seller_core.eval.ranking import model_ranks
from seller_core.models.sasrec import load_sasrec
from seller_core.train.sasrec_train import save_sasrec, train_sasrec

EVAL = dict(ks=[5, 10], mask_history=False, batch_size=512, select_metric="ndcg@10", bootstrap=dict(n=500, seed=0, alpha=0.05))
CFG = dict(max_len=20, d=32, n_layers=2, n_heads=2, d_ff=64, dropout=0.1, loss="ce", lr=5e-3, weight_decay=0.0,
           batch_size=64, max_epochs=15, patience=5, seed=0)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)  # tiny models: threads only add overhead on a shared CI box


@pytest.fixture(scope="module")
def data():
    return make_data(n_users=120)


def tiny_model(n_items=30, **kw):
    torch.manual_seed(0)
    return SASRec(SASRecConfig(n_items=n_items, max_len=10, d=16, n_heads=2, d_ff=32, **kw)).eval()


def test_causal_and_padding_invariant():
    m = tiny_model()
    seq = torch.tensor([[0, 0, 3, 7, 9, 2]])
    h = m.encode(seq)
    assert h.shape == (1, 6, 16)
    later = seq.clone()
    later[0, -1] = 11  # changing the newest item must not change earlier positions
    h2 = m.encode(later)
    assert torch.allclose(h[0, :-1], h2[0, :-1]) and not torch.allclose(h[0, -1], h2[0, -1])
    # more or less left padding changes nothing: positions count from the oldest real item
    assert torch.allclose(m.user_vector(seq), m.user_vector(seq[:, 2:]), atol=1e-6)
    assert torch.allclose(m.user_vector(seq), m.user_vector(torch.tensor([[0, 0, 0, 0, 3, 7, 9, 2]])[:, -6:]), atol=1e-6)
    assert m.score_all(m.user_vector(seq)).shape == (1, 30)  # padding row is not a candidate
    with pytest.raises(ValueError, match="max_len"):
        m.encode(torch.ones(1, 11, dtype=torch.long))


def test_pad_left_shifts_and_truncates():
    out = pad_left([[0, 4], [1, 2, 3, 5]], max_len=3)
    assert out.tolist() == [[0, 1, 5], [3, 4, 6]]


def test_windows_make_every_position_a_target_once():
    seqs = [np.arange(12), np.array([5, 6]), np.array([7, 8, 9])]
    inputs, targets, lengths = sequences.windows(seqs, max_len=4)
    got = sorted(int(t) - 1 for t in targets[targets != 0])
    want = sorted(list(range(1, 12)) + [6, 8, 9])
    assert got == want
    for inp, tgt, n in zip(inputs, targets, lengths):
        assert (inp[-n:] != 0).all() and (inp[:-n] == 0).all()
        assert (tgt[-n:][:-1] == inp[-n:][1:]).all()  # targets are inputs shifted by one


def test_user_sequences_from_interactions():
    df = pd.DataFrame({"user_id": [1, 1, 0, 0, 0, 1], "item_id": [5, 6, 1, 2, 3, 9], "timestamp": [20, 10, 1, 2, 3, 30],
                       "split": ["train", "train", "train", "train", "test", "valid"]})
    seqs = sequences.user_sequences(df)
    assert [s.tolist() for s in seqs] == [[1, 2], [6, 5]]


def test_negatives_avoid_forbidden_items():
    gen = torch.Generator().manual_seed(0)
    forbidden = torch.tensor([[1, 2, 3, 4, 0], [5, 6, 0, 0, 0]])
    neg = sequences.sample_negatives(6, forbidden, (2, 50), gen)
    assert neg.min() >= 1 and neg.max() <= 6
    assert not (neg[0, :, None] == forbidden[0, None, :4]).any()
    assert not (neg[1, :, None] == forbidden[1, None, :2]).any()


def test_bucketed_batches_cover_all_rows_once():
    lengths = np.random.default_rng(0).integers(1, 50, size=1000)
    batches = sequences.bucketed_batches(lengths, 64, np.random.default_rng(1), pool=4)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))


@pytest.mark.parametrize("loss", ["ce", "bpr"])
def test_beats_most_popular(data, loss):
    inter, items, samples = data
    cfg = dict(CFG, loss=loss, max_epochs=12 if loss == "ce" else 25, lr=5e-3 if loss == "ce" else 1e-2)
    model, history = train_sasrec(inter, samples["valid"], len(items), cfg, EVAL)
    assert history[0]["epoch"] == 0 and len(history) >= 2
    r_sas = model_ranks(model, samples["test"], len(items), EVAL)
    r_pop = popularity_ranks(popularity_scores(inter, len(items)), samples["test"], EVAL)
    cmp = ranking.compare(r_sas, r_pop, EVAL["ks"], 500, 0, 0.05)
    assert cmp["ndcg@10"]["lo"] > 0, (ranking.metrics_from_ranks(r_sas), ranking.metrics_from_ranks(r_pop))


def test_seeded_and_resumable(data, tmp_path):
    inter, items, samples = data
    cfg = dict(CFG, max_epochs=3, patience=10)
    full, hist_full = train_sasrec(inter, samples["valid"], len(items), cfg, EVAL)
    again, _ = train_sasrec(inter, samples["valid"], len(items), cfg, EVAL)
    for k, v in full.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k

    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(loop.Interrupted):
        train_sasrec(inter, samples["valid"], len(items), cfg, EVAL, ckpt, "fp1", stop_after=2)
    assert ckpt.exists()
    resumed, hist_resumed = train_sasrec(inter, samples["valid"], len(items), cfg, EVAL, ckpt, "fp1")
    assert [h["epoch"] for h in hist_resumed] == [0, 1, 2, 3]
    assert [h["valid"] for h in hist_resumed] == [h["valid"] for h in hist_full]
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k

    # a checkpoint of another config or data is not reused
    other = dict(cfg, max_epochs=1)
    _, hist_other = train_sasrec(inter, samples["valid"], len(items), other, EVAL, ckpt, "fp2")
    assert [h["epoch"] for h in hist_other] == [0, 1]

    save_sasrec(full, hist_full, tmp_path / "m.pt", tmp_path / "h.json", cfg)
    loaded = load_sasrec(tmp_path / "m.pt")
    seq = pad_left(samples["test"]["history"][:4], cfg["max_len"])
    assert torch.equal(loaded.user_vector(seq), full.user_vector(seq))
