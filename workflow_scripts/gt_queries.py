"""Per-category explicit/implicit queries from Claude or the offline stand-in (seller_core.gt.generate).

The API key is read from the environment inside seller_core, only when a request must be made;
it never passes through params, config or this script."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.gt.generate import generate_category_queries
from seller_core.logs import setup_logging

log = setup_logging(snakemake.log[0])
p = snakemake.params
stats = generate_category_queries(snakemake.input.item_table, snakemake.output[0], {**p.gt, **p.run.gt}, domain=p.domain)
log.info("gt_queries: %s", stats)
