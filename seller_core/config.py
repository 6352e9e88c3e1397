"""The pipeline's config, validated one way for the workflow (rules/common.smk) and for everything
outside it (bench scripts, notebooks, the explain command): config/config.schema.yaml with every
registered method's section taken from the schema fragment beside its module
(seller_core/methods/<name>.schema.yaml), defaults filled in as Snakemake's `validate` fills them
(the jsonschema FAQ's extension). Errors name the config key."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


def schema() -> dict:
    """The whole config schema: the base file plus each method's section fragment."""
    from seller_core import methods

    out = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    for section, path in methods.schema_fragments().items():
        if section in out["properties"]:
            raise ConfigError(f"{path}: section {section!r} is also defined in {SCHEMA}; a method's section "
                              "lives in its fragment only")
        out["properties"][section] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return out


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        for prop, sub in properties.items():
            if "default" in sub and isinstance(instance, dict):
                instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    from jsonschema import validators

    return validators.extend(validator_class, {"properties": set_defaults})


def validate_config(cfg: dict, source="the config") -> dict:
    """`cfg` checked against schema() and filled with its defaults, in place (and returned)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    sch = schema()
    error = best_match(_with_defaults(Draft202012Validator)(sch).iter_errors(cfg))
    if error is not None:
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(f"{source}: config key {key}: {error.message}")
    return cfg


def load_config(path=ROOT / "config" / "config.yaml") -> dict:
    cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return validate_config(cfg, str(path))
