"""Sampled category texts per sample, for the SEG prompt (see seller_core.data.categories)."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.data.categories import category_sequences
from seller_core.logs import setup_logging

log = setup_logging(snakemake.log[0])
stats = category_sequences(snakemake.input.samples, snakemake.input.item_table, snakemake.input.interactions,
                           snakemake.output[0], **snakemake.params.categories)
log.info("category texts: %s", stats)
