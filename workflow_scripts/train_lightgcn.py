"""Rule train_lightgcn -> seller_core.train.lightgcn_train.train_lightgcn_rule."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.train.lightgcn_train import train_lightgcn_rule

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
train_lightgcn_rule(i.interactions, i.users, i.item_table, o.embeddings, o.history, p.ckpt, p.lightgcn,
                    p.run.lightgcn["device"], snakemake.threads, p.run.checkpoint)
