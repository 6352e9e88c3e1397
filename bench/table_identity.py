"""Are two runs' tables the same numbers? For a refactor that must move code, not numbers.

    .venv/bin/python bench/table_identity.py bench/measured/before_tables_39a2cd8 results/tables

Compares table{2,3,5}.csv cell by cell (rows keyed by dataset and method), except the columns that
measure this machine rather than the method: wall seconds, their ratios and peak memory (Table 5).
Floats compare exactly unless --rtol is given. Prints every differing cell with both values and, for Table 2 and 3 metrics, whether the new value
lies inside the old 95 % interval; exits 1 when any compared cell differs.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

TIMING = ("seconds", "_rel_", "peak_rss_mb", "peak_cuda_mb")
KEY = ["dataset", "method"]


def differing(before: pd.DataFrame, after: pd.DataFrame, name: str, rtol: float = 0.0) -> list[str]:
    out = []
    if set(map(tuple, before[KEY].values)) != set(map(tuple, after[KEY].values)):
        out.append(f"{name}: rows differ: {sorted(set(map(tuple, before[KEY].values)) ^ set(map(tuple, after[KEY].values)))}")
    cols = [c for c in before.columns if c not in KEY and not any(t in c for t in TIMING)]
    missing = [c for c in cols if c not in after.columns]
    if missing:
        out.append(f"{name}: columns missing after: {missing}")
    b, a = before.set_index(KEY), after.set_index(KEY)
    for key in b.index.intersection(a.index):
        for c in cols:
            if c in missing:
                continue
            x, y = b.at[key, c], a.at[key, c]
            if (pd.isna(x) and pd.isna(y)) or x == y:
                continue
            if isinstance(x, float) and isinstance(y, float) and math.isclose(x, y, rel_tol=max(rtol, 1e-15), abs_tol=1e-15):
                continue
            note = ""
            lo, hi = f"{c}_lo", f"{c}_hi"
            if lo in b.columns and hi in b.columns and not pd.isna(b.at[key, lo]):
                inside = b.at[key, lo] <= y <= b.at[key, hi]
                note = f"  (old 95% CI [{b.at[key, lo]:.4g}, {b.at[key, hi]:.4g}]: {'inside' if inside else 'OUTSIDE'})"
            out.append(f"{name} {key} {c}: {x!r} -> {y!r}{note}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--tables", default="2,3,5")
    ap.add_argument("--rtol", type=float, default=0.0,
                    help="relative tolerance for floats (default 0: exact up to printing; e.g. 1e-8 for float32 noise)")
    a = ap.parse_args()
    diffs, cells = [], 0
    for t in a.tables.split(","):
        name = f"table{t}.csv"
        before, after = pd.read_csv(a.before / name), pd.read_csv(a.after / name)
        cells += before.size
        d = differing(before, after, name, a.rtol)
        print(f"{name}: {len(before)} rows, {'identical' if not d else f'{len(d)} differences'} "
              f"(timing columns excluded{f', rtol {a.rtol:g}' if a.rtol else ''})")
        diffs += d
    for line in diffs:
        print("  " + line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
