"""SELLER on demand: single-pair wall time (the baseline), its import floor, the batch form's
throughput and the resident form's per-pair latency, measured in one run on this machine.

Each form runs as a user would run it, in a fresh process (`python -m seller_core explain ...`):
  floor     python -c "...import OnDemand; import seller_core.methods.seller.explain"  (interpreter + the
            SELLER stack's imports)
  full floor  the same, plus resolving the backbone's model and tokenizer classes as load_backbone
            does (AutoConfig, the Auto* mappings): transformers imports its modeling stack
            (torch.distributed, torch._dynamo, sympy ...) only when a model class is first touched, so
            this is every import a fresh process pays before it reads a weight; no form can answer a
            fresh single pair faster than this
  single    --sample-id N --json, once per sample (what one question costs today)
  batch     --pairs FILE with all N samples (one start-up, texts generated in batches)
  serve     --serve, the N requests one at a time on stdin after the ready line (per-pair round trip)
  int4      --serve --decode int4 (llm/int4.py), the same requests: per-pair round trip and how many
            texts equal the exact ones
  lookup    --serve --decode lookup (llm/lookup.py: prompt-lookup drafts), int4+lookup and
            int4+lookup+compile (its verify forwards torch.compile'd during start-up), the same
  floor of an exact decode: reading every fp32 weight once (timed here) per new token

    .venv/bin/python bench/explain_latency.py --results results --dataset tiny_yelp --n 16

Needs results/models/{ds}/seller/model.pt and its inputs (snakemake results/explanations/{ds}/seller.parquet).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from seller_core.explain.ondemand import generation_settings
from seller_core.methods import DEFAULT_RUN
from seller_core.report.tables import host_line
from seller_core.runtime import host_info

ROOT = Path(__file__).resolve().parents[1]
# Every import before the first weight is read: the SELLER stack, then the backbone's own model and
# tokenizer classes, resolved as load_backbone resolves them (the Auto* mappings), which is when
# transformers imports its modeling stack.
FULL_FLOOR = """import json
from seller_core.explain.ondemand import OnDemand
import seller_core.methods.seller.explain
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.models.auto.tokenization_auto import tokenizer_class_from_name
AutoModelForCausalLM._model_mapping[type(AutoConfig.from_pretrained('{backbone}'))]
tokenizer_class_from_name(json.load(open('{backbone}/tokenizer_config.json'))['tokenizer_class'])
"""


def timed(cmd: list[str], env: dict, stdin: str | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, input=stdin, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0, r.stdout


def serve(base: list[str], ids: list[int], env: dict) -> tuple[float, list[float], list[dict]]:
    """(start-up s, per-pair round trips, answers) of the resident form asked the ids one at a time."""
    proc = subprocess.Popen(base + ["--serve"], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    t0 = time.perf_counter()
    ready = proc.stderr.readline()
    while ready and not ready.startswith("ready:"):
        ready = proc.stderr.readline()
    if not ready:
        raise SystemExit(f"{' '.join(base)} --serve ended before its ready line: {proc.stderr.read()[-3000:]}")
    startup = time.perf_counter() - t0
    rtt, served = [], []
    for sid in ids:
        t = time.perf_counter()
        proc.stdin.write(json.dumps({"sample_id": sid}) + "\n")
        proc.stdin.flush()
        served.append(json.loads(proc.stdout.readline()))
        rtt.append(time.perf_counter() - t)
    proc.stdin.close()
    proc.wait(timeout=60)
    return startup, rtt, served


def weight_read_seconds(backbone: Path, reps: int = 5) -> float:
    """Seconds to read every fp32 weight of the backbone once (the best of reps): what each exact
    decode step pays at least, whatever the arithmetic."""
    import torch
    from safetensors.torch import load_file

    weights = list(load_file(backbone / "model.safetensors").values())
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for w in weights:
            w.sum()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--dataset", default="tiny_yelp")
    ap.add_argument("--n", type=int, default=16, help="test samples asked about (default 16)")
    ap.add_argument("--single", type=int, default=3, help="fresh single-pair runs (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (OMP_NUM_THREADS) of every form")
    ap.add_argument("--backbone", default="resources/llm/smollm2-135m", help="the backbone's directory (weight-read floor)")
    args = ap.parse_args(argv)
    test = Path(args.results) / "data" / args.dataset / "samples_test.parquet"
    ids = sorted(pd.read_parquet(test, columns=["sample_id"])["sample_id"].tolist())[:args.n]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": str(args.threads)}
    base = [sys.executable, "-m", "seller_core", "explain", "--results", args.results, "--dataset", args.dataset]

    floor = [timed([sys.executable, "-c", "from seller_core.explain.ondemand import OnDemand; import seller_core.methods.seller.explain"], env)[0]
             for _ in range(args.single)]
    full_floor = [timed([sys.executable, "-c", FULL_FLOOR.format(backbone=str(Path(args.backbone).resolve()))], env)[0]
                  for _ in range(args.single)]
    bare = [timed([sys.executable, "-c", "pass"], env)[0] for _ in range(args.single)]
    single, texts = [], {}
    for sid in ids[:args.single]:
        s, out = timed(base + ["--sample-id", str(sid), "--json"], env)
        single.append(s)
        texts[sid] = json.loads(out)["explanation"]

    pairs = Path(args.results) / "bench" / f"explain_pairs_{args.dataset}.csv"
    pairs.parent.mkdir(parents=True, exist_ok=True)
    pairs.write_text("sample_id\n" + "".join(f"{i}\n" for i in ids))
    batch_s, out = timed(base + ["--pairs", str(pairs)], env)
    batch = [json.loads(x) for x in out.splitlines()]

    startup, rtt, served = serve(base, ids, env)
    startup4, rtt4, served4 = serve(base + ["--decode", "int4"], ids, env)
    fast = {d: serve(base + ["--decode", d], ids, env) for d in ("lookup", "int4+lookup", "int4+lookup+compile")}
    floor_token = weight_read_seconds(Path(args.backbone))
    n_new = generation_settings(args.results, args.dataset, DEFAULT_RUN)["max_new_tokens"]

    same_single = all(b["explanation"] == texts[b["sample_id"]] for b in batch if b["sample_id"] in texts)
    same_served = [s["explanation"] for s in served] == [b["explanation"] for b in batch]
    same4 = sum(a["explanation"] == b["explanation"] for a, b in zip(served4, served))
    res = {"dataset": args.dataset, "n": len(ids), "threads": args.threads,
           "python_bare_s": round(min(bare), 2), "import_floor_s": round(min(floor), 2),
           "full_import_floor_s": round(min(full_floor), 2),
           "single_pair_s": round(statistics.median(single), 2), "single_pair_min_s": round(min(single), 2),
           "batch_total_s": round(batch_s, 2), "batch_per_pair_s": round(batch_s / len(ids), 3),
           "serve_startup_s": round(startup, 2), "serve_per_pair_median_s": round(statistics.median(rtt), 3),
           "serve_per_pair_max_s": round(max(rtt), 3),
           "batch_equals_single": same_single, "serve_equals_batch": same_served,
           "fp32_weight_read_per_token_s": round(floor_token, 4), "max_new_tokens": n_new,
           "int4_serve_startup_s": round(startup4, 2), "int4_serve_per_pair_median_s": round(statistics.median(rtt4), 3),
           "int4_serve_per_pair_max_s": round(max(rtt4), 3), "int4_same_texts": same4, "host": host_info()}
    for d, (st, rt, sv) in fast.items():
        res[d] = {"serve_startup_s": round(st, 2), "serve_per_pair_median_s": round(statistics.median(rt), 3),
                  "serve_per_pair_max_s": round(max(rt), 3),
                  "same_texts": sum(a["explanation"] == b["explanation"] for a, b in zip(sv, served))}
    print(f"{args.dataset}, {len(ids)} test samples, {args.threads} torch threads, on {host_line(res['host'])}")
    print(f"  python start-up               {res['python_bare_s']:7.2f} s")
    print(f"  import floor                  {res['import_floor_s']:7.2f} s   (interpreter + the SELLER stack: torch, pandas, transformers' top level)")
    print(f"  full import floor             {res['full_import_floor_s']:7.2f} s   (and the backbone's model/tokenizer "
          f"classes: transformers' modeling stack; min of {len(full_floor)})")
    print(f"  single pair, fresh process    {res['single_pair_s']:7.2f} s   (median of {len(single)}; baseline)")
    print(f"  batch --pairs, {len(ids)} pairs       {res['batch_total_s']:7.2f} s   = {res['batch_per_pair_s']:.3f} s a pair "
          f"({res['single_pair_s'] / res['batch_per_pair_s']:.1f}x the single-pair throughput)")
    print(f"  serve start-up                {res['serve_startup_s']:7.2f} s")
    print(f"  serve, per pair               {res['serve_per_pair_median_s']:7.3f} s   median (max {res['serve_per_pair_max_s']:.3f} s; "
          f"{res['single_pair_s'] / res['serve_per_pair_median_s']:.0f}x faster than a fresh single pair)")
    print(f"  same texts: batch = single {same_single}, serve = batch {same_served}")
    print(f"  exact decode floor            {floor_token * n_new:7.3f} s   (reading the fp32 weights once per token: "
          f"{floor_token * 1e3:.0f} ms x {n_new} tokens)")
    print(f"  serve --decode int4, per pair {res['int4_serve_per_pair_median_s']:7.3f} s   median (max "
          f"{res['int4_serve_per_pair_max_s']:.3f} s; start-up {res['int4_serve_startup_s']:.2f} s; "
          f"{same4}/{len(ids)} texts the same as exact)")
    for d in fast:
        r = res[d]
        print(f"  serve --decode {d}, per pair {r['serve_per_pair_median_s']:7.3f} s   median (max "
              f"{r['serve_per_pair_max_s']:.3f} s; start-up {r['serve_startup_s']:.1f} s; "
              f"{r['same_texts']}/{len(ids)} texts the same as exact)")
    return res


if __name__ == "__main__":
    main()
