"""Rule train_eer -> seller_core.train.eer_train.train_eer_rule."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.train.eer_train import train_eer_rule

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
train_eer_rule(i.sasrec, i.item_table, i.train, i.valid, i.gt, o.model, o.history, p.ckpt, snakemake.wildcards.kind,
               p.eer, p.embed, p.eval, snakemake.threads, vars(p.run))
