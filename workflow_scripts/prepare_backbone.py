"""Rule prepare_backbone -> seller_core.llm.backbone.prepare_backbone."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.llm.backbone import prepare_backbone
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
prepare_backbone(snakemake.params.source, snakemake.output[0])
