"""Rule train_seg -> seller_core.train.seg_train.train_seg_rule."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.train.seg_train import train_seg_rule

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
train_seg_rule(dict(i.items()), dict(o.items()), p.ckpt, {**p.seg, **p.run.seg}, {**p.llm, **p.run.llm},
               snakemake.threads)
