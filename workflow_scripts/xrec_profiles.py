"""Rule xrec_profiles -> seller_core.gt.profiles.generate_profiles."""

import _repo_on_path  # noqa: F401  (seller_core importable inside conda envs)

from seller_core.gt.profiles import generate_profiles
from seller_core.logs import setup_logging

setup_logging(snakemake.log[0])
i, p = snakemake.input, snakemake.params
generate_profiles(i.item_table, i.users, i.interactions, snakemake.output[0], {**p.gt, **p.run.gt},
                  {**p.profiles, **p.run.profiles}, p.domain)
