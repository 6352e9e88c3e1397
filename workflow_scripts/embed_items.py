"""Rule embed_items -> seller_core.text.embed.embed_items."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.logs import setup_logging
from seller_core.text.embed import embed_items

setup_logging(snakemake.log[0])
o, p = snakemake.output, snakemake.params
embed_items(snakemake.input.item_table, o.emb, o.meta, {**p.embed, **p.run.embed}, snakemake.threads)
