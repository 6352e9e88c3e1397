"""Cost of each pipeline stage against dataset scale: 1/16, 1/4 and the full paper scale.

For each scale it generates a Yelp- and a KuaiRec-format dump with the project's synthetic generator
(seller_core.data.synth, through the pipeline's own synthesize_raw rules) and runs the real
Snakemake DAG on it, shortened to what one unit of each stage costs:

    ingest, filter/split, category texts, GT queries + GT assembly (offline backend; assembly reads
    the cached queries), item-text embeddings, SASRec (1 epoch + its validation), EER (1 epoch +
    validation), SEG (1 training step on the offline backbone) and one generation batch (16 cases).

Each row says how it was measured (column `method`):
- `rule`: the whole rule, from its `benchmark:` file (Snakemake's own measurement,
  results/benchmarks/<rule>/<ds>.tsv).
- `extrapolated`: the sentence-encoder stages (embeddings, EER), which take hours whole at 1/4 and
  full scale on this CPU (--text-models units, the default): bench/scale_units.py runs the
  project's functions on a seeded sample of the scale's data and extrapolates linearly in what the
  rule's work grows with; the row's `note` gives the parts. --text-models whole runs them as rules.
- `rule, stand-in inputs`: the SEG step and the generation batch as whole rules, on an untrained
  SASRec and repeated item embeddings of the right shapes (their cost does not depend on the values).
Dataset sizes come from results/data/<ds>/stats.json. It writes <out>/scale.csv (one row per scale x
dataset x stage x method; default out: bench/measured/; a rerun replaces only the rows it measures)
and <out>/scale.png (time and peak memory against interactions), and prints the table.

    .venv/bin/python bench/scale.py                                  # 1/16 and 1/4
    .venv/bin/python bench/scale.py --scales 1/16 1/4 1              # and the full paper scale
    .venv/bin/python bench/scale.py --scales 1 --skip-sasrec         # keep the SASRec rows measured before
    .venv/bin/python bench/scale.py --scales 1/16 --text-models whole  # the encoder stages as whole rules

Full scale = the paper's Table 1 sizes after filtering (what SASRec, EER, embeddings and SEG see):
Yelp ~25.6 k users x ~90 k items with ~16 reviews each (~0.5 M review lines, users-side 10-core),
KuaiRec 7,176 users x 10,728 videos. Ingesting the real multi-million-line Yelp review file is
measured separately by bench/ingest.py (5.2 M lines). Runs already done in --workdir are reused
(Snakemake reruns nothing), so an interrupted sweep resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
FIELDS = ["scale", "dataset", "stage", "rule", "method", "generated_users", "generated_items", "users", "items",
          "interactions", "seconds", "peak_rss_mb", "peak_rss_mb_est", "note"]
# Full scale = the paper's Table 1 sizes after filtering. Yelp: 25,633 users, 89,994 items, 396,805
# interactions, i.e. 15.5 per user, which only a users-side 10-core gives (config/paper.yaml notes
# that a two-sided one cannot: 4.4 interactions per item); KuaiRec: 7,176 users, 10,728 videos,
# the generator's 60 views per user (~340 k positives kept in the paper).
FULL = {
    "yelp": {"users": 25_633, "items": 89_994, "interactions_per_user": 16.0},
    "kuairec": {"users": 7_176, "items": 10_728, "interactions_per_user": 60.0},
}
KCORE = {"yelp": {"k": 10, "sides": "users"}, "kuairec": {"k": 10, "sides": "both"}}
# stage name -> (rule, benchmark file name pattern)
STAGES = {
    "synthesize": ("synthesize_raw", "{ds}"),
    "ingest": ("ingest", "{ds}"),
    "filter_split": ("filter_and_split", "{ds}"),
    "category_texts": ("category_sequences", "{ds}"),
    "gt_queries": ("gt_queries", "{ds}"),
    "gt_assemble": ("gt_assemble", "{ds}"),
    "embeddings": ("embed_items", "{ds}"),
    "sasrec_epoch": ("pretrain_sasrec", "{ds}"),
    "eer_epoch": ("train_eer", "{ds}_both"),
    "seg_step": ("train_seg", "{ds}_full"),
    "generation_batch": ("explain_seller", "{ds}"),
}


def config_for(scale: Fraction) -> dict:
    tag = f"{scale.numerator}_{scale.denominator}"
    datasets = {}
    for fmt, size in FULL.items():
        datasets[f"{fmt}_{tag}"] = {
            "format": fmt,
            "synthetic": {"users": max(200, round(size["users"] * scale)),
                          "items": max(200, round(size["items"] * scale)),
                          "interactions_per_user": size["interactions_per_user"], "seed": 0},
            "preprocess": {"kcore": KCORE[fmt]},
        }
    return {
        "datasets": datasets,
        "sasrec": {"max_epochs": 1, "patience": 1},
        "eer": {"kinds": ["both"], "utility_kind": "both", "max_epochs": 1, "patience": 1},
        "methods": ["gt"],
        "seg": {"batch_size": 8, "max_train_samples": 8, "epochs": 1, "generate": {"batch_size": 16}},
        # one generation batch: the test set is subsampled to the generation batch size
        "preprocess": {"test_subsample": 16},
    }


def targets(config: dict, sasrec: bool = True, text_models: str = "units") -> list[str]:
    out = []
    for ds in config["datasets"]:
        out += [f"results/data/{ds}/category_texts.parquet", f"results/data/{ds}/gt/explanations.parquet"]
        if sasrec:
            out.append(f"results/models/{ds}/sasrec/model.pt")
        if text_models == "whole":  # the stages that run the sentence encoder or the LLM, as rules
            out += [f"results/data/{ds}/item_text_emb.npy", f"results/models/{ds}/eer/both/model.pt",
                    f"results/explanations/{ds}/seller.parquet"]
    return out


def snakemake(wd: Path, cores: int, targets: list[str], *extra: str) -> None:
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(wd), "--configfile", str(wd / "config.yaml"),
           "--workflow-profile", "none", "--cores", str(cores), *extra, "--", *targets]
    print(f"   {' '.join(cmd)}", flush=True)
    t0 = time.monotonic()
    with open(wd / "snakemake.out", "a") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV).returncode
    if rc != 0:
        sys.exit(f"snakemake failed (exit {rc}); see {wd / 'snakemake.out'}")
    print(f"   done in {time.monotonic() - t0:.0f} s", flush=True)


def unit(what: str, wd: Path, ds: str, n: int) -> dict:
    """One bench/scale_units.py measurement in its own process (its own peak RSS)."""
    cmd = [sys.executable, str(REPO / "bench" / "scale_units.py"), what, "--workdir", str(wd), "--dataset", ds,
           "--n", str(n)]
    print(f"   {what} {ds} ...", flush=True)
    res = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if res.returncode != 0:
        sys.exit(f"bench/scale_units.py {what} {ds} failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    if "note" in out:
        print(f"   {out['stage']}: {out['seconds']} s, {out['peak_rss_mb_est']} MB ({out['note']})", flush=True)
    return out


def run_scale(scale: Fraction, workdir: Path, cores: int, sasrec: bool, text_models: str, n: int) -> list[dict]:
    wd = workdir / f"scale_{scale.numerator}_{scale.denominator}"
    wd.mkdir(parents=True, exist_ok=True)
    config = config_for(scale)
    (wd / "config.yaml").write_text(yaml.safe_dump(config))
    print(f"== scale {scale} in {wd}", flush=True)
    snakemake(wd, cores, targets(config, sasrec, text_models))
    units = {ds: [] for ds in config["datasets"]}
    if text_models == "units":
        for ds in config["datasets"]:
            units[ds] = [unit("embed", wd, ds, n), unit("eer", wd, ds, n)]
            if not (wd / f"results/explanations/{ds}/seller.parquet").exists():
                unit("standins", wd, ds, n)
        # the SEG step and the generation batch as rules; only the rules that need no stand-in may run
        snakemake(wd, cores, [f"results/explanations/{ds}/seller.parquet" for ds in config["datasets"]],
                  "--allowed-rules", "prepare_backbone", "train_seg", "explain_seller")
    rows = []
    for ds, spec in config["datasets"].items():
        stats = json.loads((wd / f"results/data/{ds}/stats.json").read_text())
        common = {"scale": str(scale), "dataset": spec["format"], "generated_users": spec["synthetic"]["users"],
                  "generated_items": spec["synthetic"]["items"], **{k: stats[k] for k in ("users", "items", "interactions")}}
        standin = "standin" in json.loads((wd / f"results/data/{ds}/item_text_emb.json").read_text()) \
            if (wd / f"results/data/{ds}/item_text_emb.json").exists() else False
        for stage, (rule, pattern) in STAGES.items():
            bench = wd / f"results/benchmarks/{rule}/{pattern.format(ds=ds)}.tsv"
            if not bench.exists():
                continue
            with open(bench, newline="") as f:
                b = list(csv.DictReader(f, delimiter="\t"))[-1]
            rss = round(float(b["max_rss"]), 1) if b["max_rss"] != "NA" else ""
            method = "rule, stand-in inputs" if standin and stage in ("seg_step", "generation_batch") else "rule"
            rows.append({**common, "stage": stage, "rule": rule, "method": method, "seconds": round(float(b["s"]), 2),
                         "peak_rss_mb": rss, "peak_rss_mb_est": rss, "note": ""})
        for u in units[ds]:
            rows.append({**common, "stage": u["stage"], "rule": u["rule"], "method": "extrapolated",
                         "seconds": u["seconds"], "peak_rss_mb": u["peak_rss_mb"],
                         "peak_rss_mb_est": u["peak_rss_mb_est"], "note": u["note"]})
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(2, 2, figsize=(13, 9), sharex="col")
    # solid line, filled marker: the whole rule measured; dashed, hollow: extrapolated from a sample
    styles = {"rule": ("-", "full"), "rule, stand-in inputs": ("-", "full"), "extrapolated": ("--", "none")}
    for col, fmt in enumerate(("yelp", "kuairec")):
        sub = [r for r in rows if r["dataset"] == fmt]
        for k, stage in enumerate(STAGES):
            for method, (ls, fill) in styles.items():
                pts = sorted((r["interactions"], r["seconds"], r["peak_rss_mb_est"]) for r in sub
                             if r["stage"] == stage and r["method"] == method)
                if not pts:
                    continue
                style = {"color": plt.cm.tab20(k / 20), "marker": "osD^v<>ph*X"[k % 11], "ls": ls, "fillstyle": fill}
                x = [p[0] for p in pts]
                axes[0][col].plot(x, [p[1] for p in pts], **style)
                axes[1][col].plot(x, [p[2] or float("nan") for p in pts], **style)
        axes[0][col].set_title(f"{fmt}: wall time of one unit of each stage")
        axes[1][col].set_title(f"{fmt}: peak RSS")
        axes[0][col].set_ylabel("seconds")
        axes[1][col].set_ylabel("MB (extrapolated: + arrays that grow with the data)")
        axes[1][col].set_xlabel("interactions after filtering")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
    handles = [Line2D([], [], color=plt.cm.tab20(k / 20), marker="osD^v<>ph*X"[k % 11], label=stage)
               for k, stage in enumerate(STAGES)]
    handles += [Line2D([], [], color="k", ls="-", marker="o", label="whole rule measured"),
                Line2D([], [], color="k", ls="--", marker="o", fillstyle="none", label="extrapolated from a sample")]
    axes[0][1].legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("Cost of each stage against scale (1/16, 1/4, 1 x the paper's Table 1 sizes; synthetic data, "
                 "2-core CPU, all-MiniLM-L6-v2 and SmolLM2-135M)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def read_rows(csv_path: Path) -> list[dict]:
    """The rows measured earlier (kept; a rerun replaces the rows with its scale, dataset, stage and method)."""
    if not csv_path.exists():
        return []
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("interactions", "users", "items", "generated_users", "generated_items"):
            r[k] = int(r[k])
        r["seconds"] = float(r["seconds"])
        r.setdefault("method", "rule")
        r.setdefault("note", "")
        r["peak_rss_mb"] = float(r["peak_rss_mb"]) if r["peak_rss_mb"] else ""
        r["peak_rss_mb_est"] = float(r.get("peak_rss_mb_est") or r["peak_rss_mb"] or 0) or ""
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", nargs="+", default=["1/16", "1/4"], help="fractions of the paper scale")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/seller-scale"))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "measured")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--skip-sasrec", action="store_true",
                    help="do not run the SASRec epoch (25 min for Yelp at full scale); its earlier rows are kept")
    ap.add_argument("--text-models", choices=["units", "whole", "none"], default="units",
                    help="units: embeddings and EER extrapolated from a sample, SEG step and generation as rules on "
                         "stand-in inputs (default); whole: all four as whole rules (hours beyond 1/16 here); none: skip")
    ap.add_argument("--n", type=int, default=512, help="sample size of the extrapolated measurements")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "scale.csv"
    key = ("scale", "dataset", "stage", "method")
    rows = read_rows(csv_path)
    for s in args.scales:
        new = run_scale(Fraction(s), args.workdir, args.cores, not args.skip_sasrec, args.text_models, args.n)
        # merge with what is on disk now (another invocation may have added other scales meanwhile)
        done = {tuple(r[k] for k in key) for r in new}
        rows = [r for r in read_rows(csv_path) if tuple(r[k] for k in key) not in done] + new
        rows.sort(key=lambda r: (r["dataset"], list(STAGES).index(r["stage"]), Fraction(r["scale"]), r["method"]))
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
        plot(rows, args.out / "scale.png")
    print(f"{'dataset':8} {'stage':17} {'scale':>5} {'method':22} {'inter.':>8} {'seconds':>8} {'peak MB':>8}")
    for r in rows:
        print(f"{r['dataset']:8} {r['stage']:17} {r['scale']:>5} {r['method']:22} {r['interactions']:>8} "
              f"{r['seconds']:>8} {r['peak_rss_mb_est']:>8}")
    print(f"wrote {csv_path} and {args.out / 'scale.png'}")


if __name__ == "__main__":
    main()
