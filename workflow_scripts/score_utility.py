"""Rule score_utility -> seller_core.eval.utility.score_utility."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.eval.utility import score_utility
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
i, o, p, w = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
score_utility(i.eer, i.item_table, i.test, i.gt, i.explanations, o.metrics, o.ranks, w.m, w.kind,
              {**p.embed, **p.run.embed}, {**p.eval, **p.run.eval}, p.data_source, snakemake.threads)
