"""Cost of each pipeline stage against dataset scale: 1/16, 1/4 and the full paper scale.

For each scale it generates a Yelp- and a KuaiRec-format dump with the project's synthetic generator
(seller_core.data.synth, through the pipeline's own synthesize_raw rules) and runs the real
Snakemake DAG on it, shortened to what one unit of each stage costs:

    ingest, filter/split, category texts, GT queries + GT assembly (offline backend; assembly reads
    the cached queries), item-text embeddings, SASRec (1 epoch + its validation), EER (1 epoch +
    validation), SEG (1 training step on the offline backbone) and one generation batch (16 cases).

Wall time and peak RSS per stage come from each rule's `benchmark:` file (Snakemake's own
measurement, results/benchmarks/<rule>/<ds>.tsv); dataset sizes from results/data/<ds>/stats.json.
It writes <out>/scale.csv (one row per scale x dataset x stage; default out: bench/measured/) and
<out>/scale.png (time and peak memory against interactions, per stage), and prints the table.

    .venv/bin/python bench/scale.py                                  # 1/16 and 1/4
    .venv/bin/python bench/scale.py --scales 1/16 1/4 1              # and the full paper scale
    .venv/bin/python bench/scale.py --scales 1 --without-text-models  # full scale, data + GT + SASRec only

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


def targets(config: dict, text_models: bool = True) -> list[str]:
    out = []
    for ds in config["datasets"]:
        out += [f"results/data/{ds}/category_texts.parquet", f"results/data/{ds}/gt/explanations.parquet",
                f"results/models/{ds}/sasrec/model.pt"]
        if text_models:  # the stages that run the sentence encoder or the LLM
            out += [f"results/data/{ds}/item_text_emb.npy", f"results/models/{ds}/eer/both/model.pt",
                    f"results/explanations/{ds}/seller.parquet"]
    return out


def run_scale(scale: Fraction, workdir: Path, cores: int, text_models: bool = True) -> list[dict]:
    wd = workdir / f"scale_{scale.numerator}_{scale.denominator}"
    wd.mkdir(parents=True, exist_ok=True)
    config = config_for(scale)
    (wd / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(wd), "--configfile", str(wd / "config.yaml"),
           "--workflow-profile", "none", "--cores", str(cores), "--", *targets(config, text_models)]
    print(f"== scale {scale}: {' '.join(cmd)}", flush=True)
    t0 = time.monotonic()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with open(wd / "snakemake.out", "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        sys.exit(f"scale {scale}: snakemake failed (exit {rc}); see {wd / 'snakemake.out'}")
    print(f"   done in {time.monotonic() - t0:.0f} s", flush=True)
    rows = []
    for ds, spec in config["datasets"].items():
        stats = json.loads((wd / f"results/data/{ds}/stats.json").read_text())
        size = {k: stats[k] for k in ("users", "items", "interactions")}
        for stage, (rule, pattern) in STAGES.items():
            bench = wd / f"results/benchmarks/{rule}/{pattern.format(ds=ds)}.tsv"
            if not bench.exists():
                continue
            with open(bench, newline="") as f:
                b = list(csv.DictReader(f, delimiter="\t"))[-1]
            rows.append({"scale": str(scale), "dataset": spec["format"], "stage": stage, "rule": rule,
                         "generated_users": spec["synthetic"]["users"], "generated_items": spec["synthetic"]["items"],
                         **size, "seconds": round(float(b["s"]), 2),
                         "peak_rss_mb": round(float(b["max_rss"]), 1) if b["max_rss"] != "NA" else ""})
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9), sharex="col")
    for col, fmt in enumerate(("yelp", "kuairec")):
        sub = [r for r in rows if r["dataset"] == fmt]
        for k, stage in enumerate(STAGES):
            style = {"color": plt.cm.tab20(k / 20 * 1.0 if k < 20 else 0), "marker": "osD^v<>ph*X"[k % 11],
                     "label": stage}
            pts = sorted((r["interactions"], r["seconds"], r["peak_rss_mb"]) for r in sub if r["stage"] == stage)
            if not pts:
                continue
            x = [p[0] for p in pts]
            axes[0][col].plot(x, [p[1] for p in pts], **style)
            axes[1][col].plot(x, [p[2] or float("nan") for p in pts], **style)
        axes[0][col].set_title(f"{fmt}: wall time per stage")
        axes[1][col].set_title(f"{fmt}: peak RSS per stage")
        axes[0][col].set_ylabel("seconds")
        axes[1][col].set_ylabel("MB")
        axes[1][col].set_xlabel("interactions after filtering")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
    for row in axes:
        row[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        row[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Cost of one unit of each stage against scale (1/16, 1/4, 1 x paper scale; 2-core CPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def read_rows(csv_path: Path) -> list[dict]:
    """The scales measured earlier (kept; a rerun of a scale replaces its rows)."""
    if not csv_path.exists():
        return []
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("interactions", "users", "items", "generated_users", "generated_items"):
            r[k] = int(r[k])
        r["seconds"] = float(r["seconds"])
        r["peak_rss_mb"] = float(r["peak_rss_mb"]) if r["peak_rss_mb"] else ""
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", nargs="+", default=["1/16", "1/4"], help="fractions of the paper scale")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/seller-scale"))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "measured")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--without-text-models", action="store_true",
                    help="skip embeddings, EER, SEG and generation (the sentence encoder and the LLM, slow on a "
                         "CPU at full scale); the data stages, GT and SASRec still run")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "scale.csv"
    rows = []
    for s in args.scales:
        scale = Fraction(s)
        new = run_scale(scale, args.workdir, args.cores, not args.without_text_models)
        # merge with what is on disk now (another invocation may have added other scales meanwhile)
        rows = [r for r in read_rows(csv_path) if r["scale"] != str(scale)] + new
        rows.sort(key=lambda r: (r["dataset"], list(STAGES).index(r["stage"]), Fraction(r["scale"])))
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(new[0]))
            w.writeheader()
            w.writerows(rows)
        plot(rows, args.out / "scale.png")
    print(f"{'dataset':8} {'stage':17} {'scale':>5} {'inter.':>8} {'seconds':>8} {'peak MB':>8}")
    for r in rows:
        print(f"{r['dataset']:8} {r['stage']:17} {r['scale']:>5} {r['interactions']:>8} {r['seconds']:>8} "
              f"{r['peak_rss_mb']:>8}")
    print(f"wrote {csv_path} and {args.out / 'scale.png'}")


if __name__ == "__main__":
    main()
