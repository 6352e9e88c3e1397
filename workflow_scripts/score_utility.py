"""Rule score_utility -> seller_core.eval.utility.score_utility."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.eval.utility import score_utility
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
score_utility(i.eer, i.item_table, i.test, i.explanations, o.metrics, o.ranks, snakemake.wildcards.m, p.embed, p.eval, snakemake.threads)
