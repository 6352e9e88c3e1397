"""Rule explain_peter -> seller_core.train.peter_train.explain_peter_rule."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.train.peter_train import explain_peter_rule

setup_logging(snakemake.log[0])
p = snakemake.params
explain_peter_rule(dict(snakemake.input), dict(snakemake.output), "peter", p.data_source,
                   p.run.peter["gen_batch_size"], snakemake.threads, p.run.peter["device"])
