"""Generate a dataset in the real Yelp or KuaiRec file format (see seller_core.data.synth)."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.data import synth
from seller_core.logs import setup_logging

log = setup_logging(snakemake.log[0])
out, params = snakemake.output, snakemake.params.synthetic
if snakemake.params.format == "yelp":
    stats = synth.synthesize_yelp(out.business, out.review, **params)
else:
    stats = synth.synthesize_kuairec(out.interactions, out.item_categories, out.captions, **params)
log.info("synthesized %s: %s", snakemake.wildcards.ds, stats)
