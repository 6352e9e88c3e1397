"""Rule report_assets (report.smk): copy the run's tables, summarise every benchmark file per rule
(table + figure) and copy bench/scale.py's figures, for `snakemake --report`."""

import csv
import logging
import shutil
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("report_assets")
i, o = snakemake.input, snakemake.output

tables = Path(o.tables)
tables.mkdir(parents=True, exist_ok=True)
for t in i.tables:
    shutil.copyfile(t, tables / Path(t).name)
log.info("copied %d tables", len(i.tables))

# per rule: jobs, total and max wall time, max peak RSS (results/benchmarks/<rule>/<wildcards>.tsv)
per_rule = defaultdict(lambda: {"jobs": 0, "total_s": 0.0, "max_s": 0.0, "max_rss_mb": 0.0})
for path in i.benchmarks:
    rule = Path(path).parent.name
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        continue
    row = rows[-1]
    r = per_rule[rule]
    r["jobs"] += 1
    r["total_s"] += float(row["s"])
    r["max_s"] = max(r["max_s"], float(row["s"]))
    if row.get("max_rss", "NA") not in ("NA", "-", ""):
        r["max_rss_mb"] = max(r["max_rss_mb"], float(row["max_rss"]))
rules = sorted(per_rule, key=lambda k: -per_rule[k]["total_s"])
with open(o.bench_csv, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["rule", "jobs", "total_seconds", "max_seconds", "max_peak_rss_mb"])
    for k in rules:
        r = per_rule[k]
        w.writerow([k, r["jobs"], round(r["total_s"], 1), round(r["max_s"], 1), round(r["max_rss_mb"], 1)])
log.info("summarised %d benchmark files of %d rules", len(i.benchmarks), len(rules))

fig, (a, b) = plt.subplots(1, 2, figsize=(12, max(3, 0.35 * len(rules) + 1)), sharey=True)
y = range(len(rules))
a.barh(y, [per_rule[k]["total_s"] for k in rules], color="tab:blue")
b.barh(y, [per_rule[k]["max_rss_mb"] for k in rules], color="tab:orange")
a.set_yticks(list(y), rules)
a.invert_yaxis()
a.set_xlabel("wall time, all jobs (s)")
b.set_xlabel("peak RSS, largest job (MB)")
fig.suptitle("Per-rule cost of this run (from the benchmark files)")
fig.tight_layout()
fig.savefig(o.bench_png, dpi=100)

for src, dst in zip(i.scale, o.scale):
    shutil.copyfile(src, dst)
