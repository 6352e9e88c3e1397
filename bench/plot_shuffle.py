"""Own vs shuffled vectors across training steps, several runs in one figure.

Reads the `<out>.shuffle.csv` files that `bench/seg_learning.py --shuffle-at ... --shuffle`
writes (one row per checkpoint: the paired-bootstrap difference own - shuffled and its 95 % CI)
and draws the hit-rate and EER NDCG@10 differences against the step, one line per run, with the
CI as error bars. A point whose bar clears 0 is a checkpoint where the sample's own sequence
vectors carry its target beyond what the prompt alone does.

    .venv/bin/python bench/plot_shuffle.py docs/figures/seg_learning_*_1000.shuffle.csv \
        --out docs/figures/seg_learning_shuffle_by_step.png
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

PANELS = (("hit", "hit rate: own - shuffled (points)", 100.0),
          ("ndcg10", "EER NDCG@10: own - shuffled", 1.0))
REQUIRED = ("step", "n") + tuple(f"{m}_{s}" for m, _, _ in PANELS for s in ("diff", "lo", "hi"))


def read_runs(paths: list[Path]) -> dict[str, list[dict]]:
    runs = {}
    for path in paths:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise ValueError(f"{path}: no rows")
        missing = [c for c in REQUIRED if c not in rows[0]]
        if missing:
            raise ValueError(f"{path}: missing columns {missing} (not a seg_learning .shuffle.csv?)")
        label = path.name.removeprefix("seg_learning_").removesuffix(".shuffle.csv")
        runs[label] = sorted(rows, key=lambda r: int(r["step"]))
    return runs


def plot(runs: dict[str, list[dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(12, 4.5))
    for ax, (metric, title, scale) in zip(axes, PANELS):
        for i, (label, rows) in enumerate(runs.items()):
            # a small x offset per run keeps overlapping error bars readable
            steps = [int(r["step"]) * (1 + 0.03 * (i - (len(runs) - 1) / 2)) for r in rows]
            diff = [float(r[f"{metric}_diff"]) * scale for r in rows]
            lo = [d - float(r[f"{metric}_lo"]) * scale for d, r in zip(diff, rows)]
            hi = [float(r[f"{metric}_hi"]) * scale - d for d, r in zip(diff, rows)]
            ax.errorbar(steps, diff, yerr=[lo, hi], marker="o", capsize=3,
                        label=f"{label} (n={rows[0]['n']})")
        ax.axhline(0.0, color="grey", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("SEG explanation steps (log)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("own vs shuffled sequence vectors on validation (paired bootstrap, 95 % CI)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csvs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    runs = read_runs(args.csvs)
    plot(runs, args.out)
    for label, rows in runs.items():
        first = {m: next((r["step"] for r in rows if float(r[f"{m}_lo"]) > 0), None)
                 for m, _, _ in PANELS}
        print(f"{label}: own beats shuffled first at step hit={first['hit']}, "
              f"ndcg10={first['ndcg10']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
