"""Category names missing from the translation table, translated by the GT backend (see seller_core.gt.names)."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.gt.names import translate_missing
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
translate_missing(snakemake.input.item_table, snakemake.output[0], {**p.gt, **p.run.gt}, domain=p.domain)
