"""results/tables/table1.csv from each dataset's stats.json."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.data.tables import table1
from seller_core.logs import setup_logging

log = setup_logging(snakemake.log[0])
p = snakemake.params
rows = table1(dict(zip(p.datasets, snakemake.input.stats)), p.formats, p.sources, snakemake.output[0])
log.info("table1: %s", rows)
