"""Rule explain_seller -> seller_core.explain.seller.explain_seller_rule."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.explain.seller import explain_seller_rule
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
explain_seller_rule(dict(i.items()), dict(o.items()), {**p.generate, **p.run.generate}, p.variant, p.method,
                    p.data_source, snakemake.threads, p.run.llm["device"])
