"""Rule compare_utility -> seller_core.eval.stats.compare_utility (numpy only: no torch import)."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.eval.stats import compare_utility
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
w = snakemake.wildcards
compare_utility(list(snakemake.input.a), list(snakemake.input.b), snakemake.output[0], w.a, w.b, snakemake.params.eval)
