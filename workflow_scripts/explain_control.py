"""Rule explain_control -> seller_core.explain.controls.explain_control."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.explain.controls import explain_control
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
c = snakemake.params.controls
explain_control(snakemake.wildcards.control, snakemake.input.test, snakemake.input.gt, snakemake.output[0], c["kind"], c["seed"])
