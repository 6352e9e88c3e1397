"""Rule train_pepler -> seller_core.train.pepler_train.train_pepler_rule."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.train.pepler_train import train_pepler_rule

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
train_pepler_rule(dict(i.items()), dict(o.items()), p.ckpt, {**p.pepler, **p.run.pepler}, {**p.llm, **p.run.llm}, p.kind,
               snakemake.threads)
