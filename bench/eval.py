"""Full-ranking evaluation cost: 2,500 cases x ~90k items, the pipeline's protocol (pessimistic
ranks of every case over every item) against the bare matmul + top-k in the same run.

    .venv/bin/python bench/eval.py [--cases 2500 --items 89994 --threads 2]

Three timings, best of --repeats:
  bare      user vectors @ item table, then torch.topk(k=10)   (what a "fast" evaluator does)
  protocol  ranking.rank_cases on the same user vectors       (ranks with ties, all items)
  end2end   ranking.rank_cases with SASRec encoding the histories inside (what eval rules run)
Target: protocol within 3x of bare.
"""

import argparse
import os
import time

import numpy as np
import torch

from seller_core.eval import ranking
from seller_core.models.sasrec import SASRec, SASRecConfig
from seller_core.data import sequences


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2500)
    ap.add_argument("--items", type=int, default=89_994)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    model = SASRec(SASRecConfig(n_items=a.items, max_len=50, d=64, n_layers=2, n_heads=2)).eval()
    histories = [rng.integers(0, a.items, size=rng.integers(1, 51)).tolist() for _ in range(a.cases)]
    targets = rng.integers(0, a.items, size=a.cases)
    hist, _ = sequences.histories_tensor(histories, 50)
    hist = torch.from_numpy(hist)
    with torch.inference_mode():
        users = model.user_vector(hist)  # (cases, d)
    items = model.item_emb.weight[1:].detach()  # (n_items, d)
    print(f"{a.cases} cases x {a.items} items, d=64, batch {a.batch_size}; torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, cpus {os.cpu_count()}, load avg {os.getloadavg()[0]:.2f}")

    def bare():
        with torch.inference_mode():
            for s in range(0, a.cases, a.batch_size):
                torch.topk(users[s : s + a.batch_size] @ items.T, 10, dim=1)

    def protocol():
        return ranking.rank_cases(lambda sl: users[sl] @ items.T, targets, a.items, batch_size=a.batch_size)

    def end2end():
        def score(sl):
            h = hist[sl]
            T = max(1, int((h != 0).sum(1).max()))
            return model.score_all(model.user_vector(h[:, -T:]))

        return ranking.rank_cases(score, targets, a.items, batch_size=a.batch_size)

    def masked():
        return ranking.rank_cases(lambda sl: users[sl] @ items.T, targets, a.items, histories, True, a.batch_size)

    t_bare = best_of(bare, a.repeats)
    t_prot = best_of(protocol, a.repeats)
    t_e2e = best_of(end2end, a.repeats)
    t_mask = best_of(masked, a.repeats)
    print(f"bare matmul + top-10:            {t_bare:.3f} s")
    print(f"protocol (pessimistic ranks):    {t_prot:.3f} s  = {t_prot / t_bare:.2f}x bare -> target <= 3x: "
          f"{'MET' if t_prot <= 3 * t_bare else 'MISSED'}")
    print(f"protocol + history masking:      {t_mask:.3f} s  = {t_mask / t_bare:.2f}x bare")
    print(f"end to end (SASRec encode too):  {t_e2e:.3f} s  = {t_e2e / t_bare:.2f}x bare")


if __name__ == "__main__":
    main()
