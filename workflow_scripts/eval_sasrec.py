"""Rule eval_sasrec -> seller_core.eval.sasrec_eval.evaluate_sasrec."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.eval.sasrec_eval import evaluate_sasrec
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
evaluate_sasrec(i.model, i.interactions, i.item_table, i.test, o.metrics, o.ranks, {**p.eval, **p.run.eval},
                p.data_source, snakemake.threads)
