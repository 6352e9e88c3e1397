"""Rule train_peter -> seller_core.train.peter_train.train_peter_rule."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.train.peter_train import train_peter_rule

setup_logging(snakemake.log[0])
p = snakemake.params
train_peter_rule(dict(snakemake.input), dict(snakemake.output), p.ckpt, {**p.peter, **p.run.peter}, p.kind,
                 snakemake.threads)
