"""LightGCN: normalised propagation checked by hand on a 4-node graph, BPR training, determinism,
resume, and the saved embedding tables."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from seller_core.models.lightgcn import LightGCN, LightGCNConfig, normalized_adjacency
from seller_core.train import loop
from seller_core.train.lightgcn_train import (
    embeddings, load_embeddings, recall_at_k, sample_negatives, save_embeddings, train_lightgcn,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest, and immune to a busy machine; restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


CFG = dict(d=8, n_layers=2, lr=0.05, reg=1e-4, batch_size=16, max_epochs=15, patience=15, k=2, seed=0, device="cpu")


def test_adjacency_by_hand():
    # 2 users x 2 items, edges u0-i0, u0-i1, u1-i0; nodes: u0=0, u1=1, i0=2, i1=3.
    # degrees: u0 2, u1 1, i0 2, i1 1  ->  A_hat[a, b] = 1 / sqrt(deg a * deg b) on each edge.
    adj = normalized_adjacency([0, 0, 1, 0], [0, 1, 0, 0], 2, 2).to_dense()  # the repeated u0-i0 counts once
    h, r = 0.5, 1 / math.sqrt(2)
    expected = torch.tensor([
        [0, 0, h, r],
        [0, 0, r, 0],
        [h, r, 0, 0],
        [r, 0, 0, 0],
    ])
    assert torch.allclose(adj, expected, atol=1e-7, rtol=0)


def test_propagation_by_hand():
    adj = normalized_adjacency([0, 0, 1], [0, 1, 0], 2, 2)
    model = LightGCN(LightGCNConfig(n_users=2, n_items=2, d=1, n_layers=2), adj)
    with torch.no_grad():
        model.emb.weight.copy_(torch.tensor([[1.0], [2.0], [3.0], [4.0]]))  # E0: u0, u1, i0, i1
    h, r = 0.5, 1 / math.sqrt(2)
    # E1 = A_hat E0, worked out edge by edge
    e1 = [h * 3 + r * 4, r * 3, h * 1 + r * 2, r * 1]
    # E2 = A_hat E1
    e2 = [h * e1[2] + r * e1[3], r * e1[2], h * e1[0] + r * e1[1], r * e1[0]]
    final = [(a + b + c) / 3 for a, b, c in zip([1, 2, 3, 4], e1, e2)]
    users, items = model.propagate()
    assert torch.allclose(users[:, 0], torch.tensor(final[:2]), atol=1e-6, rtol=0)
    assert torch.allclose(items[:, 0], torch.tensor(final[2:]), atol=1e-6, rtol=0)


def test_adjacency_rejects_bad_ids():
    with pytest.raises(ValueError, match="outside"):
        normalized_adjacency([0, 2], [0, 0], 2, 2)


def interactions():
    # two taste groups: users 0-5 like items 0-4, users 6-11 like items 5-9; validation picks
    # an unseen item of the user's own group
    rows = []
    for u in range(12):
        group = range(0, 5) if u < 6 else range(5, 10)
        liked = [i for i in group if (i + u) % 5 != 0]  # 4 of 5 in training
        rows += [(u, i, "train") for i in liked]
        rows += [(u, next(i for i in group if (i + u) % 5 == 0), "valid")]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "split"])


def test_negatives_avoid_training_items():
    inter = interactions()
    tr = inter[inter.split == "train"]
    seen = np.sort(tr.user_id.to_numpy() * 10 + tr.item_id.to_numpy())
    users = np.repeat(np.arange(12), 50)
    neg = sample_negatives(users, seen, 10, np.random.default_rng(0))
    assert not np.isin(users * 10 + neg, seen).any()


def test_trains_deterministic_and_saves(tmp_path):
    inter = interactions()
    model, history = train_lightgcn(inter, 12, 10, CFG)
    assert history[-1]["loss"] < history[1]["loss"]
    tr = inter[inter.split == "train"]
    va = inter[inter.split == "valid"]
    args = (va.user_id.to_numpy(), va.item_id.to_numpy(), tr.user_id.to_numpy(), tr.item_id.to_numpy())
    # untrained: 0.5 (propagation alone already mixes neighbours); trained: every held-out item in the top 2
    assert history[0]["valid"] <= 0.5 and recall_at_k(model, *args, k=2) == 1.0

    again, _ = train_lightgcn(inter, 12, 10, CFG)
    assert torch.equal(model.emb.weight, again.emb.weight)
    other, _ = train_lightgcn(inter, 12, 10, {**CFG, "seed": 1})
    assert not torch.equal(model.emb.weight, other.emb.weight)

    ck = tmp_path / "ck.pt"
    with pytest.raises(loop.Interrupted):
        train_lightgcn(inter, 12, 10, CFG, ckpt_path=ck, fp="x", stop_after=3)
    resumed, _ = train_lightgcn(inter, 12, 10, CFG, ckpt_path=ck, fp="x")
    assert torch.equal(model.emb.weight, resumed.emb.weight)

    out = tmp_path / "embeddings.npz"
    save_embeddings(model, out, history, CFG)
    u, i, meta = load_embeddings(out)
    eu, ei = embeddings(model)
    assert u.shape == (12, 8) and i.shape == (10, 8) and u.dtype == np.float32
    assert np.array_equal(u, eu) and np.array_equal(i, ei)
    assert meta["model"]["n_layers"] == 2 and meta["train_config"]["seed"] == 0


def test_graph_uses_training_split_only():
    inter = interactions()
    model, _ = train_lightgcn(inter, 12, 10, {**CFG, "max_epochs": 0})
    adj = model.adj.to_dense()
    for u, i in inter.loc[inter.split == "valid", ["user_id", "item_id"]].itertuples(index=False):
        assert adj[u, 12 + i] == 0
    for u, i in inter.loc[inter.split == "train", ["user_id", "item_id"]].itertuples(index=False):
        assert adj[u, 12 + i] > 0


def test_rule_writes_embeddings(tmp_path):
    from seller_core.train.lightgcn_train import train_lightgcn_rule

    inter = interactions()
    inter.to_parquet(tmp_path / "interactions.parquet")
    pd.DataFrame({"user_id": range(12)}).to_parquet(tmp_path / "users.parquet")
    pd.DataFrame({"item_id": range(10)}).to_parquet(tmp_path / "items.parquet")
    out = tmp_path / "lightgcn/embeddings.npz"
    train_lightgcn_rule(tmp_path / "interactions.parquet", tmp_path / "users.parquet", tmp_path / "items.parquet",
                        out, tmp_path / "lightgcn/history.json", tmp_path / "ck.pt", CFG)
    u, i, meta = load_embeddings(out)
    model, _ = train_lightgcn(inter, 12, 10, CFG)  # the same seeded run in memory
    eu, ei = embeddings(model)
    assert np.array_equal(u, eu) and np.array_equal(i, ei)
    assert not (tmp_path / "ck.pt").exists()
