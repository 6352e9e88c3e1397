"""Per-sample ground-truth explanations from the target item's category queries (seller_core.gt.assemble)."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.gt.assemble import assemble_explanations
from seller_core.logs import setup_logging

log = setup_logging(snakemake.log[0])
assemble_explanations(snakemake.input.item_table, snakemake.input.samples, snakemake.input.queries, snakemake.output[0],
                      **dict(snakemake.params.items()))
