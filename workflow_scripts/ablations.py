"""Rules fig2_ablation and table4 -> seller_core.report.figures.fig2 / seller_core.report.tables.table4."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.report import figures, tables

log = setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params


def by_ds(paths, names):
    return tables.by_dataset(paths, p.datasets, names)


if p.target == "fig2":
    figures.fig2(by_ds(i.utility, p.methods), by_ds(i.text, p.methods), o.png, o.csv,
                 dict(zip(p.datasets, i.reference)))
else:
    tables.table4(by_ds(i.utility, p.rows), p.formats, o.csv, o.md)
log.info("%s written", p.target)
