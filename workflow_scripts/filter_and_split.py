"""k-core filter, dense ids, chronological split and samples (see seller_core.data.split)."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.data.split import filter_and_split
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
out = {key: snakemake.output[key] for key in snakemake.output.keys()}
filter_and_split(snakemake.input.interactions, snakemake.input.item_table, out,
                 **snakemake.params.split)
