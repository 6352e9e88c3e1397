"""Category names in English before filtering (see seller_core.data.category_names)."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.data.category_names import translate_items
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
translate_items(inp.item_table, out.item_table, out.names, out.stats, missing=snakemake.params.names["missing"],
                backend_names=inp.get("backend_names") or None)  # empty unless missing: backend
