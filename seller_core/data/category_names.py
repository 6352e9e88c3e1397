"""Category names in English: the translation stage between ingestion and filtering.

Real KuaiRec category names are Chinese (395 distinct names over three levels in
`kuairec_caption_category.csv`, e.g. 颜值, 高新数码, 二次元), but everything downstream of the
item table reads them as English: item descriptions, category texts, GT prompts, the offline
phrase bank and the English sentence encoders. So `translate_items` turns every item's category
names into English before `filter_and_split` writes `items.parquet`, which keeps both:
`categories` (English) and `categories_raw` (the source names, same order).

Translations come from a table shipped with the package, `resources/kuairec_categories_en.tsv`
(columns `raw, en, level, id, parent`: every real name, its English name, its level 1-3, its
category id and its parent's raw name; made and reviewed by hand, distinct names map to distinct
English names). The feat-tag fallback names of `kuairec.build_items` (`tag 27`) are English
already and pass through. A name that is neither is *missing*, and `preprocess.category_names.missing`
decides:
- `error` (default): stop, listing the missing names and the table file to add them to;
- `label`: a labelled English placeholder, `Untranslated category <8 hex digits of its SHA-1>`;
- `backend`: the GT backend translates them (`seller_core.gt.names`: Claude with `gt.backend:
  anthropic`, through the GT response cache and spending caps; the offline backend cannot
  translate and stops with the list), in the separate rule `translate_category_names`, which is
  in the DAG only in this mode, so GT settings and code never rerun the data stages otherwise.

`results/data/{ds}/category_names.parquet` records every name's translation and its source
(`table`, `feat_tag`, `label`, or `backend:<model>`). Yelp names are English: no translation stage.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from importlib import resources

import pyarrow as pa
import pyarrow.parquet as pq

from seller_core.data.io import write_json, write_parquet
from seller_core.errors import BadInputError

log = logging.getLogger(__name__)

TABLE_FILE = "kuairec_categories_en.tsv"
TABLE_COLUMNS = ["raw", "en", "level", "id", "parent"]
MISSING_MODES = ("error", "label", "backend")
TAG_NAME = re.compile(r"tag \d+")  # kuairec.build_items' fallback to feat tag ids
# CJK ideographs, kana, hangul, CJK punctuation and full-width forms
CJK = re.compile(r"[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")
NAME_SCHEMA = pa.schema([("raw", pa.string()), ("en", pa.string()), ("source", pa.string())])


def table_text() -> str:
    """The shipped table's text (package data, read with importlib.resources)."""
    return resources.files("seller_core.data").joinpath("resources", TABLE_FILE).read_text(encoding="utf-8")


def table_location() -> str:
    """Where the shipped table is, for messages that tell the user which file to edit."""
    return str(resources.files("seller_core.data").joinpath("resources", TABLE_FILE))


def load_table(text: str | None = None) -> list[dict]:
    """Rows of the translation table: raw, en, level (int), id (int), parent (raw name or "")."""
    text = table_text() if text is None else text
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header != TABLE_COLUMNS:
        raise BadInputError(table_location(), f"header must be {TABLE_COLUMNS}, got {header}", line=1)
    rows = []
    for line, rec in enumerate(reader, 2):
        if len(rec) != len(TABLE_COLUMNS):
            raise BadInputError(table_location(), f"expected {len(TABLE_COLUMNS)} tab-separated fields", line=line)
        row = dict(zip(TABLE_COLUMNS, rec))
        row["level"], row["id"] = int(row["level"]), int(row["id"])
        rows.append(row)
    return rows


def translations(text: str | None = None) -> dict[str, str]:
    """raw name -> English name."""
    return {r["raw"]: r["en"] for r in load_table(text)}


def english_problem(name: str) -> str | None:
    """Why `name` is not usable as an English category name, or None. Names are joined with ", "
    into descriptions and category texts, and with "; " into GT texts, so they hold neither."""
    if not name or name != name.strip():
        return "empty or padded with spaces"
    if CJK.search(name):
        return "has CJK characters"
    if not name.isascii() or not name.isprintable():
        return "has non-ASCII or unprintable characters"
    if not re.search(r"[A-Za-z]", name):
        return "has no letters"
    if "," in name or ";" in name:
        return "has a comma or semicolon (the separators of item and GT texts)"
    if len(name) > 60:
        return "is longer than 60 characters"
    return None


def placeholder(raw: str) -> str:
    """The labelled English stand-in for a name missing from the table (missing: label)."""
    return f"Untranslated category {hashlib.sha1(raw.encode('utf-8')).hexdigest()[:8]}"


def distinct_names(items_path) -> list[str]:
    table = pq.read_table(items_path, columns=["categories"])
    return sorted({c for cats in table["categories"].to_pylist() for c in cats or []})


def missing_names(names, table: dict[str, str]) -> list[str]:
    return sorted(n for n in names if n not in table and not TAG_NAME.fullmatch(n))


class MissingTranslations(BadInputError):
    def __init__(self, items_path, names: list[str], why: str):
        self.names = names
        shown = ", ".join(repr(n) for n in names[:50]) + (f", ... ({len(names) - 50} more)" if len(names) > 50 else "")
        super().__init__(
            items_path,
            f"{len(names)} category name(s) are not in the translation table {table_location()} "
            f"(columns raw<TAB>en<TAB>level<TAB>id<TAB>parent): {shown}. {why}",
            key="preprocess.category_names.missing",
        )


HOW_TO_FIX = ("Add them to that table; or set preprocess.category_names.missing: backend to have the GT "
              "backend translate them (gt.backend: anthropic; cached in gt.cache_path), or missing: label for "
              "labelled placeholders ('Untranslated category <hash>').")


def name_map(names, *, missing: str, items_path, extra: dict[str, tuple[str, str]] | None = None) -> dict[str, tuple[str, str]]:
    """raw -> (English, source) for every name. `extra`: translations of missing names made by the
    GT backend (raw -> (en, source)), used in `backend` mode."""
    if missing not in MISSING_MODES:
        raise ValueError(f"preprocess.category_names.missing must be one of {MISSING_MODES}, not {missing!r}")
    table = translations()
    out: dict[str, tuple[str, str]] = {}
    for n in names:
        if n in table:
            out[n] = (table[n], "table")
        elif TAG_NAME.fullmatch(n):
            out[n] = (n, "feat_tag")
    lacking = missing_names(names, table)
    if lacking:
        if missing == "error":
            raise MissingTranslations(items_path, lacking, HOW_TO_FIX)
        if missing == "label":
            for n in lacking:
                out[n] = (placeholder(n), "label")
        else:
            extra = extra or {}
            still = [n for n in lacking if n not in extra]
            if still:
                raise MissingTranslations(items_path, still, "The GT backend returned no translation for them.")
            for n in lacking:
                out[n] = extra[n]
    # distinct names must stay distinct: a clash (e.g. a backend translation equal to a table
    # name) gets the raw name's hash appended, so no two categories merge
    seen: dict[str, str] = {}
    for n in sorted(out, key=lambda n: (out[n][1] != "table", n)):
        en, source = out[n]
        if en.lower() in seen:
            other = seen[en.lower()]
            en = f"{en} {hashlib.sha1(n.encode('utf-8')).hexdigest()[:6]}"
            out[n] = (en, source)
            log.warning("category %r: its English name clashes with that of %r; using %r", n, other, en)
        seen[en.lower()] = n
    for n, (en, source) in out.items():
        problem = english_problem(en)
        if problem:
            raise BadInputError(table_location() if source == "table" else items_path,
                                f"the English name {en!r} of category {n!r} ({source}) {problem}")
    return out


def translate_items(items_in, items_out, names_out, stats_out=None, *, missing: str = "error",
                    backend_names=None) -> dict:
    """items_raw.parquet (source names) -> the same table with `categories` in English,
    `categories_raw` the source names and the description rebuilt from the English names;
    and category_names.parquet (raw, en, source). `backend_names`: the parquet of the rule
    translate_category_names (missing: backend)."""
    from seller_core.data.kuairec import describe_video

    items = pq.read_table(items_in)
    names = distinct_names(items_in)
    extra = None
    if backend_names is not None:
        t = pq.read_table(backend_names).to_pylist()
        extra = {r["raw"]: (r["en"], r["source"]) for r in t}
    mapping = name_map(names, missing=missing, items_path=items_in, extra=extra)
    raw_lists = items["categories"].to_pylist()
    en_lists = [[mapping[c][0] for c in cats] for cats in raw_lists]
    out = pa.table({
        "raw_item_id": items["raw_item_id"], "name": items["name"],
        "categories": pa.array(en_lists, pa.list_(pa.string())),
        "categories_raw": pa.array(raw_lists, pa.list_(pa.string())),
        "description": pa.array([describe_video(c) for c in en_lists], pa.string()),
    })
    write_parquet(out, items_out)
    write_parquet(pa.table({"raw": names, "en": [mapping[n][0] for n in names],
                            "source": [mapping[n][1] for n in names]}, schema=NAME_SCHEMA), names_out)
    sources: dict[str, int] = {}
    for n in names:
        key = mapping[n][1].split(":")[0]
        sources[key] = sources.get(key, 0) + 1
    stats = {"items": out.num_rows, "names": len(names), "by_source": dict(sorted(sources.items())),
             "missing_policy": missing, "table": TABLE_FILE}
    if stats_out is not None:
        write_json(stats, stats_out)
    log.info("category names: %s", stats)
    return stats
