"""`explain --decode int4` (or another --decode) against exact decoding on validation samples (never
test): how many texts are identical, and how often each names the target's categories, in one run.

    .venv/bin/python bench/int4_fidelity.py --results results --dataset tiny_yelp --method seller --n 256
    .venv/bin/python bench/int4_fidelity.py ... --decode lookup     # llm/lookup.py, one row at a time

Needs the method's trained model (snakemake results/explanations/{ds}/{method}.parquet).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch

from seller_core import methods
from seller_core.eval.text_metrics import category_hits
from seller_core.explain.ondemand import OnDemand
from seller_core.llm.int4 import DECODE


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--dataset", default="tiny_yelp")
    ap.add_argument("--method", default=methods.DEFAULT_RUN)
    ap.add_argument("--n", type=int, default=256, help="the first n validation samples by sample_id (default 256)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decode", default="int4", choices=DECODE[1:], help="the decode compared with exact")
    ap.add_argument("--out", default=None, help="also write the result as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    valid = pd.read_parquet(f"{args.results}/data/{args.dataset}/samples_valid.parquet", columns=["sample_id"])
    requests = [{"sample_id": int(s)} for s in sorted(valid["sample_id"])[:args.n]]
    res, texts = {"dataset": args.dataset, "method": args.method, "n": len(requests), "split": "valid",
                  "decode": args.decode}, {}
    for decode in ("exact", args.decode):
        od = OnDemand(args.results, args.dataset, args.method, decode=decode)
        t0 = time.perf_counter()
        out = od.explain(requests)
        res[f"{decode}_seconds"] = round(time.perf_counter() - t0, 1)
        texts[decode] = [o["explanation"] for o in out]
        hits = category_hits(texts[decode], [o["target_categories"] for o in out])
        res[f"{decode}_category_hit"] = round(float(hits.mean()), 4)
        res[f"{decode}_empty"] = sum(not t for t in texts[decode])
    same = np.array([a == b for a, b in zip(texts["exact"], texts[args.decode])])
    res["identical_texts"] = int(same.sum())
    res["identical_share"] = round(float(same.mean()), 4)
    print(f"{args.dataset} {args.method}, {len(requests)} validation samples, {args.threads} threads (this machine)")
    for d in ("exact", args.decode):
        print(f"  {d:11s} category hit {res[f'{d}_category_hit']:.3f}  empty {res[f'{d}_empty']:3d}  "
              f"({res[f'{d}_seconds']:.1f} s)")
    print(f"  identical texts {res['identical_texts']}/{len(requests)} ({res['identical_share']:.1%})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == "__main__":
    main()
