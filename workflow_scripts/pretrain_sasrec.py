"""Rule pretrain_sasrec -> seller_core.train.sasrec_train.pretrain_sasrec."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.train.sasrec_train import pretrain_sasrec

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
pretrain_sasrec(i.interactions, i.item_table, i.valid, o.model, o.history, p.ckpt, p.sasrec, p.eval,
                snakemake.threads, vars(p.run))
