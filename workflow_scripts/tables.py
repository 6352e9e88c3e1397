"""Rules table2, table3, table5 -> seller_core.report.tables."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

import os
import platform

from seller_core.logs import setup_logging
from seller_core.report import tables

log = setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params


def by_method(paths, methods):
    """A flat dataset-major list over every seed's run -> {ds: {method: [path per run]}}."""
    runs = {m: p.runs[m] for m in methods}
    flat = tables.by_dataset(paths, p.datasets, [r for m in methods for r in runs[m]])
    return tables.runs_by_method(flat, runs)


if p.table == "table2":
    focus = p.roles["focus"]
    others = [m for m in p.methods if m != focus] if focus in p.methods else []
    tables.table2(by_method(i.utility, p.methods), by_method(i.ranks, p.methods),
                  tables.by_dataset(i.paired, p.datasets, others), p.formats, p.bootstrap, o.csv, o.md, p.roles)
elif p.table == "table3":
    tables.table3(by_method(i.text, p.methods), by_method(i.cases, p.methods), p.formats, p.bootstrap, o.csv, o.md)
else:
    train, gen = by_method(i.train, p.methods), by_method(i.generate, p.methods)
    costs = {ds: {m: {"train": train[ds][m], "generate": gen[ds][m]} for m in p.methods} for ds in p.datasets}
    hardware = f"{os.cpu_count()} CPU cores ({platform.machine()}, {platform.processor() or 'unknown CPU'})"
    tables.table5(costs, hardware, o.csv, o.md, p.setting, p.roles)
log.info("%s -> %s", p.table, o.csv)
