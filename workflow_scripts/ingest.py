"""Ingest a Yelp or KuaiRec dump (real or generated) into items_raw / interactions_raw parquet."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.data.io import write_json
from seller_core.logs import setup_logging

log = setup_logging(snakemake.log[0])
inp, out, params = snakemake.input, snakemake.output, dict(snakemake.params.ingest)
# DuckDB gets most of the job's memory (the rule's mem_mb); past it, it spills to disk
params["memory_limit"] = f"{int(snakemake.resources.mem_mb * 0.6)}MB"
if snakemake.rule == "ingest_yelp":
    from seller_core.data.yelp import ingest_yelp

    stats = ingest_yelp(inp.business, inp.review, out.interactions, out.item_table, threads=snakemake.threads, **params)
else:
    from seller_core.data.kuairec import ingest_kuairec

    stats = ingest_kuairec(inp.interactions, inp.item_categories, inp.captions, out.interactions, out.item_table,
                           threads=snakemake.threads, **params)
write_json(stats, out.stats)
