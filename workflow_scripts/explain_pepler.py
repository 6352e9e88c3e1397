"""Rule explain_pepler -> seller_core.train.pepler_train.explain_pepler_rule."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.train.pepler_train import explain_pepler_rule

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
explain_pepler_rule(dict(i.items()), dict(o.items()), {**p.generate, **p.run.generate}, p.data_source,
               snakemake.threads, p.run.llm["device"])
