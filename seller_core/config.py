"""The pipeline's config outside Snakemake (bench scripts, notebooks): the YAML validated against
config/config.schema.yaml with its defaults filled in, exactly as the workflow's `validate` does,
and a method section resolved the way its rule resolves it."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "config.schema.yaml"


def load_config(path=ROOT / "config" / "config.yaml") -> dict:
    from snakemake.utils import validate

    cfg = yaml.safe_load(Path(path).read_text())
    validate(cfg, str(SCHEMA), set_default=True)
    return cfg


def seg_section(cfg: dict, variant: str = "full", seed: int | None = None) -> dict:
    """The `seg` section for one variant and seed, as rules/common.smk's seg_params gives it to
    train_seg (plus log_every, which the rule passes as run control)."""
    seg = {k: v for k, v in cfg["seg"].items() if k not in ("variants", "generate")}
    seg.update(cfg["seg"]["variants"][variant])
    seg["seed"] = cfg["seeds"][0] if seed is None else seed
    return seg
