"""results/tables/table1.csv: our dataset statistics beside the paper's Table 1."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from seller_core.report.paper import PAPER

PAPER_TABLE1 = PAPER["table1"]  # 10-core filtered
COLUMNS = ["dataset", "format", "source", "users", "items", "interactions", "categories",
           "paper_users", "paper_items", "paper_interactions", "paper_categories"]


def table1(stats_paths: dict, formats: dict, sources: dict, out_path) -> list[dict]:
    rows = []
    for ds, path in stats_paths.items():
        stats = json.loads(Path(path).read_text(encoding="utf-8"))
        paper = PAPER_TABLE1[formats[ds]]
        rows.append({
            "dataset": ds, "format": formats[ds], "source": sources[ds],
            **{k: stats[k] for k in ("users", "items", "interactions", "categories")},
            **{f"paper_{k}": v for k, v in paper.items()},
        })
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows
