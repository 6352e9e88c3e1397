"""Benchmark: Yelp ingestion + positive filter + iterative 10-core at real scale, project vs pandas.

Generates a synthetic Yelp dump in the real format (>= 5 M review lines by default, see
seller_core/data/synth/yelp.py), then runs, each in its own subprocess so its peak RSS is its own:
  project  seller_core.data.yelp.ingest_yelp (DuckDB streaming scan of positives, businesses
           parsed meanwhile) + seller_core.data.split.clean_interactions (known businesses, dedupe
           first, iterative 10-core on both sides, in numpy on integer codes);
  pandas   pd.read_json(lines=True, chunksize=...) keeping stars >= min_stars rows of known,
           categorised businesses, dedupe first (user, business) by date, iterative 10-core;
           the item texts built from a pandas read of the business file with the same functions.
Both must end with the same interactions, users and items (checked), so the timing compares
the same work. Prints wall time and peak RSS per path and the ratios.

    .venv/bin/python bench/ingest.py                 # full scale into bench/out/ingest (git-ignored)
    .venv/bin/python bench/ingest.py --users 3000 --items 2000   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def project_path(business, review, workdir, min_stars, k, memory_limit):
    import pyarrow.parquet as pq

    from seller_core.data.split import clean_interactions
    from seller_core.data.yelp import ingest_yelp

    inter, items = Path(workdir) / "interactions_raw.parquet", Path(workdir) / "items_raw.parquet"
    stats = ingest_yelp(business, review, inter, items, min_stars=min_stars, memory_limit=memory_limit)
    # what filter_and_split does before splitting: known items, dedupe first, iterative k-core
    kept = clean_interactions(inter, pq.read_table(items), "first", {"k": k, "sides": "both"})
    c = kept["counts"]
    return {"positives_kept": c["positive_interactions"] - c["dropped_item_without_metadata"] - c["dropped_repeat_pairs"],
            **kept["rounds"][-1], "kcore_rounds": len(kept["rounds"]) - 1, "item_texts": stats["businesses_kept"]}


def pandas_path(business, review, workdir, min_stars, k, chunksize):
    import pandas as pd

    from seller_core.data.yelp import describe_business, parse_categories

    # the same item table as the project path: categories as lists, the Fig. 3 description text
    biz = pd.read_json(business, lines=True, dtype=False)
    biz = biz[biz["categories"].notna()].astype(object).where(biz.notna(), None)
    cats = biz["categories"].map(parse_categories)
    desc = [describe_business(row, c) for row, c in zip(biz.to_dict("records"), cats)]
    known = set(biz["business_id"])
    del biz
    parts = []
    for chunk in pd.read_json(review, lines=True, chunksize=chunksize, dtype=False):
        keep = (chunk["stars"] >= min_stars) & chunk["business_id"].isin(known)
        parts.append(chunk.loc[keep, ["user_id", "business_id", "date"]])
    df = pd.concat(parts, ignore_index=True)
    del parts
    df = df.sort_values(["user_id", "date"], kind="stable").drop_duplicates(["user_id", "business_id"])
    positives = len(df)
    rounds = 0
    while True:
        n = len(df)
        ok = (df.groupby("user_id")["business_id"].transform("size") >= k) & \
             (df.groupby("business_id")["user_id"].transform("size") >= k)
        df = df[ok]
        rounds += 1
        if len(df) == n:
            break
    return {"positives_kept": positives, "interactions": len(df), "users": int(df["user_id"].nunique()),
            "items": int(df["business_id"].nunique()), "kcore_rounds": rounds, "item_texts": len(desc)}


def run_worker(which, args, workdir) -> dict:
    """Run one path in a fresh interpreter; wall time and that child's own peak RSS via wait4."""
    cmd = [sys.executable, __file__, "--worker", which, "--business", str(args.business), "--review",
           str(args.review), "--workdir", str(workdir), "--min-stars", str(args.min_stars), "--k", str(args.k),
           "--chunksize", str(args.chunksize), "--memory-limit", args.memory_limit]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{which} path failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    return {"path": which, "wall_s": round(wall, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), **result}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=160_000)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ingest")
    p.add_argument("--reuse", action="store_true", help="reuse the generated files in --out if present")
    p.add_argument("--min-stars", type=float, default=4.0)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--chunksize", type=int, default=200_000, help="pandas read_json chunk size (lines)")
    p.add_argument("--memory-limit", default="500MB",
                   help="DuckDB memory limit of the project path (the ingest rule derives it from mem_mb)")
    p.add_argument("--only", choices=["project", "pandas"], help="run one path only")
    p.add_argument("--worker", choices=["project", "pandas"], help=argparse.SUPPRESS)
    p.add_argument("--business", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--review", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        if args.worker == "project":
            res = project_path(args.business, args.review, args.workdir, args.min_stars, args.k, args.memory_limit)
        else:
            res = pandas_path(args.business, args.review, args.workdir, args.min_stars, args.k, args.chunksize)
        print(json.dumps(res))
        return

    from seller_core.data.synth import synthesize_yelp

    args.business, args.review = args.out / "business.json", args.out / "review.json"
    if not (args.reuse and args.business.exists() and args.review.exists()):
        t0 = time.perf_counter()
        stats = synthesize_yelp(args.business, args.review, users=args.users, items=args.items, seed=args.seed)
        print(f"generated {stats['review_lines']:,} review lines ({stats['review_bytes'] / 2**30:.2f} GiB) and "
              f"{stats['business_lines']:,} businesses in {time.perf_counter() - t0:.1f} s", flush=True)
    with open(args.review, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))
    print(f"review file: {lines:,} lines, {args.review.stat().st_size / 2**30:.2f} GiB; "
          f"{os.cpu_count()} CPUs", flush=True)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for which in ["project", "pandas"] if args.only is None else [args.only]:
            res = run_worker(which, args, tmp)
            print(json.dumps(res), flush=True)
            results.append(res)

    print(f"\n{'path':<8} {'wall s':>8} {'peak RSS MB':>12} {'interactions':>13} {'users':>8} {'items':>8}")
    for r in results:
        print(f"{r['path']:<8} {r['wall_s']:>8.1f} {r['peak_rss_mb']:>12.1f} {r['interactions']:>13,} "
              f"{r['users']:>8,} {r['items']:>8,}")
    if len(results) == 2:
        proj, pand = results
        same = all(proj[key] == pand[key] for key in ("positives_kept", "interactions", "users", "items", "item_texts"))
        print(f"speed-up (pandas / project wall time): {pand['wall_s'] / proj['wall_s']:.1f}x; "
              f"peak RSS ratio (pandas / project): {pand['peak_rss_mb'] / proj['peak_rss_mb']:.1f}x; "
              f"same result: {same}")
        if not same:
            raise SystemExit("the two paths disagree on the filtered data")


if __name__ == "__main__":
    main()
