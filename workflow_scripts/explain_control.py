"""Rule explain_control -> seller_core.explain.controls.explain_control."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.explain.controls import explain_control
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
p, i = snakemake.params, snakemake.input
method = snakemake.wildcards.control.partition("_")[0]  # gt | random | empty; the suffix names the GT kind
explain_control(method, i.test, i.gt, snakemake.output[0], p.kind, p.seed, p.data_source,
                name=snakemake.wildcards.control)
