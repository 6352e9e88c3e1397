"""Rule explain_xrec -> seller_core.train.xrec_train.explain_xrec_rule."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.train.xrec_train import explain_xrec_rule

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
explain_xrec_rule(dict(i.items()), dict(o.items()), {**p.generate, **p.run.generate}, p.data_source,
               snakemake.threads, p.run.llm["device"])
