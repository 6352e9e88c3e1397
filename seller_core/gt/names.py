"""Category names missing from the shipped translation table, translated by the GT backend.

Used only with `preprocess.category_names.missing: backend` (rule translate_category_names; see
seller_core.data.category_names). One request per missing name, through the same durable
response cache, spending caps, SDK retries and repair loop as the ground-truth queries
(`generate.run_cached`), with its own prompt version. The offline backend is a phrase bank, not a
translator: with it, missing names stop the run with their list.
"""

from __future__ import annotations

import json
import logging

import pyarrow as pa

from seller_core.data.category_names import (NAME_SCHEMA, MissingTranslations, distinct_names, english_problem,
                                             missing_names, translations)
from seller_core.data.io import write_parquet

from .backends import Completion, Request
from .cache import request_key
from .generate import Task, make_backend, run_cached
from .prompts import InvalidResponse, json_string_field, repair_turns

log = logging.getLogger(__name__)

NAMES_PROMPT_VERSION = "names-v1"

SYSTEM_PROMPT = (
    "You translate the category names of a recommendation platform into short, natural English "
    "category names. You always answer with a single JSON object and nothing else: no prose, no "
    "markdown fences."
)

# The `Category:` line has the same form as the GT prompt's.
USER_TEMPLATE = """Platform: {domain}
Category: {name_json}

Translate this category name into a short, natural English category name of 1 to 6 words, as an
English-language platform would label it (Title Case, no commas or semicolons, no quotes).
Examples: 颜值 -> "Good Looks"; 二次元 -> "Anime & ACG"; 高新数码 -> "Tech & Digital".

Answer with exactly this JSON shape:
{{"category": {name_json}, "en": "..."}}"""

REPAIR = ("Your previous answer could not be used: {reason}. Answer again with ONLY the JSON object "
          "{{\"category\": ..., \"en\": ...}}, the English name short, plain ASCII, without commas or semicolons.")


def user_prompt(name: str, domain: str) -> str:
    return USER_TEMPLATE.format(domain=domain, name_json=json.dumps(name, ensure_ascii=False))


def parse_translation(text: str, n: int = 1) -> str:
    en = json_string_field(text, "en")
    problem = english_problem(en)
    if problem:
        raise InvalidResponse(f"the English name {en!r} {problem}")
    return en


def _repair(req: Request, comp: Completion, reason: str) -> list[dict]:
    return repair_turns(req.user, comp.text, REPAIR.format(reason=reason))


NAMES = Task(parse_translation, _repair, NAMES_PROMPT_VERSION)


def translate_missing(items_path, out_path, cfg: dict, domain: str) -> dict:
    """category_names_backend.parquet (raw, en, source) for every name of `items_path` that the
    table lacks (none: an empty file)."""
    lacking = missing_names(distinct_names(items_path), translations())
    stats = {"missing": len(lacking), "backend": cfg["backend"]}
    rows = {"raw": [], "en": [], "source": []}
    if lacking:
        if cfg["backend"] != "anthropic":
            raise MissingTranslations(
                items_path, lacking,
                f"gt.backend is {cfg['backend']!r}, which cannot translate (only gt.backend: anthropic can); "
                "add them to the table, or set preprocess.category_names.missing: label.")
        backend = make_backend(cfg, [])
        reqs = []
        for name in lacking:
            user = user_prompt(name, domain)
            key = request_key(backend.name, backend.model, SYSTEM_PROMPT, user, cfg["temperature"], cfg["max_tokens"],
                              NAMES_PROMPT_VERSION)
            reqs.append(Request(name, 1, SYSTEM_PROMPT, user, cfg["max_tokens"], cfg["temperature"], key))
        log.info("%d category names missing from the table -> %d requests to %s (%s)", len(lacking), len(reqs),
                 backend.name, backend.model)
        results, run = run_cached(reqs, backend, cfg, NAMES)
        stats.update(run)
        for name in lacking:
            rows["raw"].append(name)
            rows["en"].append(results[name])
            rows["source"].append(f"backend:{backend.model}")
    write_parquet(pa.table(rows, schema=NAME_SCHEMA), out_path)
    log.info("translate_category_names: %s", stats)
    return stats
