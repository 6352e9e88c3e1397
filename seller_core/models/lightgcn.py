"""LightGCN (He et al., SIGIR 2020): the collaborative user/item embeddings XRec feeds its adapters.

Graph: the user-item bipartite graph of the TRAINING interactions, users as nodes 0..U-1 and items
as nodes U..U+I-1, one undirected edge per distinct (user, item) pair. Propagation uses the
symmetric normalisation  A_hat = D^-1/2 A D^-1/2  (no self-loops), so

    E_{k+1} = A_hat E_k,        final = mean(E_0, E_1, ..., E_K)

(the paper's alpha_k = 1/(K+1); XRec's encoder sums the layers instead, which only rescales the
embeddings by K+1 and leaves every dot-product ranking unchanged). The only parameters are E_0.
Training is BPR with an L2 penalty on the batch's E_0 rows, as in the paper.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class LightGCNConfig:
    n_users: int
    n_items: int
    d: int = 64
    n_layers: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


def normalized_adjacency(users, items, n_users: int, n_items: int) -> torch.Tensor:
    """Sparse (N, N) A_hat = D^-1/2 A D^-1/2 of the bipartite graph, N = n_users + n_items.
    users, items: equal-length arrays of dense ids (one per interaction; duplicates count once).
    Nodes without edges get zero rows (their propagated embedding is 0 after layer 0)."""
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    if len(users) != len(items):
        raise ValueError(f"{len(users)} user ids but {len(items)} item ids")
    if len(users) and (users.min() < 0 or users.max() >= n_users or items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"ids outside [0, {n_users}) users x [0, {n_items}) items")
    pairs = np.unique(np.stack([users, items], 1), axis=0)  # (E, 2) distinct edges
    u, i = pairs[:, 0], pairs[:, 1] + n_users
    rows, cols = np.concatenate([u, i]), np.concatenate([i, u])  # both directions: A is symmetric
    n = n_users + n_items
    deg = np.bincount(rows, minlength=n).astype(np.float64)  # (N,)
    vals = 1.0 / np.sqrt(deg[rows] * deg[cols])  # every endpoint of an edge has degree >= 1
    return torch.sparse_coo_tensor(
        torch.from_numpy(np.stack([rows, cols])), torch.from_numpy(vals).float(), (n, n), check_invariants=True
    ).coalesce()


class LightGCN(nn.Module):
    def __init__(self, cfg: LightGCNConfig, adj: torch.Tensor):
        super().__init__()
        n = cfg.n_users + cfg.n_items
        if tuple(adj.shape) != (n, n):
            raise ValueError(f"adjacency is {tuple(adj.shape)}, expected ({n}, {n})")
        self.cfg = cfg
        self.emb = nn.Embedding(n, cfg.d)  # E_0: users first, then items
        nn.init.normal_(self.emb.weight, std=0.1)  # the LightGCN authors' initialisation
        self.register_buffer("adj", adj, persistent=False)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (user table (U, d), item table (I, d)): the layer mean of E_0..E_K."""
        e = self.emb.weight  # (N, d)
        total = e
        for _ in range(self.cfg.n_layers):
            e = torch.sparse.mm(self.adj, e)  # (N, d)
            total = total + e
        final = total / (self.cfg.n_layers + 1)
        return final[: self.cfg.n_users], final[self.cfg.n_users :]

    def bpr_loss(self, users, pos, neg, reg: float):
        """users, pos, neg: (B,) dense ids -> (BPR loss, L2 term). The L2 term is on E_0 of the
        batch's rows, divided by the batch size (He et al.)."""
        u_all, i_all = self.propagate()
        u, p, n = u_all[users], i_all[pos], i_all[neg]  # (B, d) each
        bpr = -F.logsigmoid((u * p).sum(-1) - (u * n).sum(-1)).mean()
        ego = self.emb.weight
        off = self.cfg.n_users
        l2 = (ego[users].pow(2).sum() + ego[pos + off].pow(2).sum() + ego[neg + off].pow(2).sum()) / (2 * len(users))
        return bpr + reg * l2, l2
