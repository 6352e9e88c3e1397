"""Rule explain_<method> -> that method's explain() (seller_core/methods/<method>.py)."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core import methods
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
method = methods.get(snakemake.rule.partition("_")[2])  # the rule is explain_<method>
method.explain(dict(snakemake.input.items()), dict(snakemake.output.items()), p.settings, vars(p.run),
               snakemake.threads)
