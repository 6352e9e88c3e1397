"""SASRec training epoch at Yelp scale (paper Table 1: ~25k users, ~90k items, ~400k interactions),
d=64, L=50, 2 blocks, every position of every training sequence a target. Random sequences.

    .venv/bin/python bench/sasrec.py [--users 25633 --items 89994 --interactions 396805 --threads 2]

Prints the epoch time and targets/s with the pipeline's own epoch function (BPR: one sampled
negative per position). Full-softmax CE over 90k items is timed on a few batches and
extrapolated (labelled as such). Target: a BPR epoch in <= 10 s on a 2-core machine.
"""

import argparse
import os
import time

import numpy as np
import torch

from seller_core.models.sasrec import SASRec, SASRecConfig
from seller_core.train import loop, sequences
from seller_core.train.sasrec_train import run_epoch


def random_sequences(n_users, n_items, n_inter, seed=0):
    rng = np.random.default_rng(seed)
    # user lengths: at least 3, geometric-like tail, summing to about n_inter
    lengths = 3 + rng.geometric(1.0 / max(1.0, n_inter / n_users - 2), size=n_users)
    lengths = np.maximum(3, (lengths * n_inter / lengths.sum()).astype(int))
    pop = rng.zipf(1.3, size=n_items).astype(float)  # skewed item popularity, as in real data
    p = pop / pop.sum()
    flat = rng.choice(n_items, size=int(lengths.sum()), p=p)
    return np.split(flat, np.cumsum(lengths)[:-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=25_633)
    ap.add_argument("--items", type=int, default=89_994)
    ap.add_argument("--interactions", type=int, default=396_805)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--ce-batches", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    seqs = random_sequences(a.users, a.items, a.interactions)
    inputs, targets, lengths = sequences.windows(seqs, 50)
    n_targets = int(lengths.sum())
    print(f"data: {len(seqs)} users, {a.items} items, {sum(map(len, seqs))} interactions -> {len(lengths)} windows, "
          f"{n_targets} targets ({time.perf_counter() - t0:.1f}s to build)")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, load avg {os.getloadavg()[0]:.2f}")

    cfg = dict(batch_size=a.batch_size, loss="bpr")
    rng = loop.RNG(0)
    model = SASRec(SASRecConfig(n_items=a.items, max_len=50, d=64, n_layers=2, n_heads=2, d_ff=64, dropout=0.2)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # as in train_sasrec
    times = []
    for ep in range(a.epochs):
        t = time.perf_counter()
        loss = run_epoch(model, opt, inputs, targets, lengths, cfg, rng)
        times.append(time.perf_counter() - t)
        print(f"BPR epoch {ep + 1}: {times[-1]:.2f} s, {n_targets / times[-1]:,.0f} targets/s, "
              f"{len(lengths) / times[-1]:,.0f} sequences/s, loss {loss:.4f}")
    best = min(times)
    print(f"BPR epoch time (best of {a.epochs}): {best:.2f} s  -> target <= 10 s: {'MET' if best <= 10 else 'MISSED'}")

    if a.ce_batches <= 0:
        return
    # CE: a few batches, extrapolated to the epoch
    ce_idx = sequences.bucketed_batches(lengths, a.batch_size, np.random.default_rng(0))[: a.ce_batches]
    sub = np.concatenate(ce_idx)
    t = time.perf_counter()
    run_epoch(model, opt, inputs[sub], targets[sub], lengths[sub], dict(batch_size=a.batch_size, loss="ce"), rng)
    dt = time.perf_counter() - t
    sub_targets = int(lengths[sub].sum())
    print(f"CE (full softmax over {a.items} items): {sub_targets / dt:,.0f} targets/s on {a.ce_batches} batches "
          f"-> extrapolated epoch {n_targets / (sub_targets / dt):.0f} s")


if __name__ == "__main__":
    main()
