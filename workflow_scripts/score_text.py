"""Rule score_text -> seller_core.eval.text_metrics.score_text."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.eval.text_metrics import score_text
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
i, o, p, w = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
cfg = {"bertscore": {**p.text["bertscore"], **p.run.bertscore}}
score_text(i.explanations, i.test, i.gt, i.item_table, o.metrics, o.cases, w.m, p.text["gt_kind"], cfg,
           p.bootstrap, p.data_source)
