"""Rule train_xrec -> seller_core.train.xrec_train.train_xrec_rule."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.train.xrec_train import train_xrec_rule

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
train_xrec_rule(dict(i.items()), dict(o.items()), p.ckpt, {**p.xrec, **p.run.xrec}, {**p.llm, **p.run.llm}, p.kind,
               snakemake.threads)
