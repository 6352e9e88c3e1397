"""Yelp Open Dataset ingestion: business.json -> items, review.json -> positive interactions.

The review dump is multi-GB JSON lines, so DuckDB reads and filters it in a streaming scan and
never materialises it in Python. The business file (~150 k lines) is parsed line by line in
Python, because its `attributes` hold stringified Python literals that need per-value parsing.

Real-file quirks handled here (tests/conftest.py's `yelp_files` reproduces them):
- `categories` is ONE comma-separated string, or null;
- `attributes` values are strings: "True", "u'free'", "'none'", "2", or a stringified dict
  "{'garage': False, 'lot': True}"; `attributes` itself may be null;
- `hours` may be null;
- review `date` is "YYYY-MM-DD HH:MM:SS" (whole seconds; stored as epoch milliseconds like every
  dataset's `timestamp`, so a user's reviews within one second tie); review `text` holds escaped
  newlines and quotes.
"""

from __future__ import annotations

import ast
import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from seller_core.errors import BadInputError, RecordPolicy, open_text
from seller_core.data.io import copy_parquet, duckdb_connection, sql_one, sql_str, write_parquet

log = logging.getLogger(__name__)

ITEM_SCHEMA = pa.schema(
    [("raw_item_id", pa.string()), ("name", pa.string()), ("categories", pa.list_(pa.string())), ("description", pa.string())]
)

REVIEW_COLUMNS = {"user_id": "VARCHAR", "business_id": "VARCHAR", "stars": "DOUBLE", "date": "VARCHAR"}
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# Fig. 3 of the paper: what the item text keeps (postal code and coordinates are dropped).
DESCRIPTION_FIELDS = ("name", "address", "city", "state", "stars", "stars_range", "attributes", "categories", "hours", "is_open")


def parse_categories(value) -> list[str]:
    """"Doctors, Health & Medical" -> ["Doctors", "Health & Medical"]; null -> []."""
    if value is None:
        return []
    if isinstance(value, list):  # older dumps stored a list
        parts = value
    elif isinstance(value, str):
        parts = value.split(",")
    else:
        raise TypeError(f"categories must be a string or null, not {type(value).__name__}")
    out: list[str] = []
    for part in parts:
        name = str(part).strip()
        if name and name not in out:
            out.append(name)
    return out


@functools.lru_cache(maxsize=1 << 16)
def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return _NOT_A_LITERAL


_NOT_A_LITERAL = object()


def parse_attribute(value):
    """Yelp stores attribute values as Python-literal strings: "True", "u'free'", "{'lot': True}"."""
    if not isinstance(value, str):
        return value
    # the same few hundred strings recur across 150 k businesses: parse each once
    parsed = _literal(value.strip())
    if isinstance(parsed, (bool, str, int, float)) or parsed is None:
        return parsed
    if isinstance(parsed, dict):
        return dict(parsed)  # a copy: the cached value must not be shared with callers
    return value


def stars_range(stars) -> str:
    return f"{stars - 0.5:g}-{stars + 0.5:g}"


def describe_business(obj: dict, categories: list[str]) -> str:
    """The filtered metadata JSON of the paper's Fig. 3, as the sentence encoder's input text."""
    attributes = obj.get("attributes")
    filtered = {
        "name": obj.get("name"),
        "address": obj.get("address"),
        "city": obj.get("city"),
        "state": obj.get("state"),
        "stars": obj.get("stars"),
        "stars_range": stars_range(obj["stars"]) if isinstance(obj.get("stars"), (int, float)) else None,
        "attributes": {k: parse_attribute(v) for k, v in attributes.items()} if isinstance(attributes, dict) else None,
        "categories": categories,
        "hours": obj.get("hours"),
        "is_open": obj.get("is_open"),
    }
    return json.dumps({k: filtered[k] for k in DESCRIPTION_FIELDS}, ensure_ascii=False)


def read_businesses(path, policy: RecordPolicy, require_categories: bool = True) -> tuple[pa.Table, dict]:
    rows = {name: [] for name in ITEM_SCHEMA.names}
    seen: set[str] = set()
    lines = no_categories = duplicates = 0
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            lines += 1
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                policy.bad(f"malformed JSON ({e.msg} at column {e.colno})", line=lineno)
                continue
            if not isinstance(obj, dict):
                policy.bad("a JSON object was expected", line=lineno)
                continue
            bid = obj.get("business_id")
            if not isinstance(bid, str) or not bid:
                policy.bad("missing required field", line=lineno, key="business_id")
                continue
            if bid in seen:
                duplicates += 1
                continue
            try:
                categories = parse_categories(obj.get("categories"))
            except TypeError as e:
                policy.bad(str(e), line=lineno, key="categories")
                continue
            if not categories and require_categories:
                no_categories += 1
                continue
            seen.add(bid)
            name = obj.get("name")
            rows["raw_item_id"].append(bid)
            rows["name"].append(name if isinstance(name, str) else "")
            rows["categories"].append(categories)
            rows["description"].append(describe_business(obj, categories))
    stats = {"business_lines": lines, "businesses_kept": len(seen), "businesses_without_categories": no_categories,
             "duplicate_business_ids": duplicates}
    return pa.table(rows, schema=ITEM_SCHEMA), stats


def first_bad_review(path) -> tuple[int, str, str | None] | None:
    """Slow exact scan used only after DuckDB has reported a problem: find the first bad line and why."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                return lineno, f"malformed JSON ({e.msg} at column {e.colno})", None
            if not isinstance(obj, dict):
                return lineno, "a JSON object was expected", None
            for key in REVIEW_COLUMNS:
                if obj.get(key) is None:
                    return lineno, "missing required field", key
            if isinstance(obj["stars"], bool) or not isinstance(obj["stars"], (int, float)):
                return lineno, f"stars must be a number, got {obj['stars']!r}", "stars"
            try:
                datetime.strptime(obj["date"], DATE_FORMAT)
            except (TypeError, ValueError):
                return lineno, f"date must look like 2019-01-31 23:59:59, got {obj['date']!r}", "date"
    return None


def _review_scan(path, skip: bool) -> str:
    cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in REVIEW_COLUMNS.items()) + "}"
    return (
        f"read_json({sql_str(path)}, format='newline_delimited', columns={cols}, "
        f"ignore_errors={'true' if skip else 'false'}, maximum_object_size=67108864)"
    )


def _positive_reviews(con, review_path, min_stars: float, out_path, policy: RecordPolicy) -> tuple[int, int]:
    """Stream the review dump once into `out_path`: every positive review (raw user, business,
    time), in file order. Return (positive rows written, invalid rows skipped).

    In error mode a bad row aborts the scan itself (DuckDB's error()), and a slow exact pass then
    finds its line; in skip mode bad rows are counted by one more scan."""
    skip = policy.mode == "skip"
    rows = f"""
        SELECT user_id, business_id, stars, epoch_ms(ts) AS ts,
               (user_id IS NULL OR business_id IS NULL OR stars IS NULL OR ts IS NULL) AS bad
        FROM (SELECT *, try_strptime(date, '{DATE_FORMAT}') AS ts FROM {_review_scan(review_path, skip)})
    """
    # one CASE, so that every row is checked before the stars filter can drop it
    keep = "NOT bad AND stars >= {m}" if skip else "CASE WHEN bad THEN error('bad review record') ELSE stars >= {m} END"
    query = f"""
        SELECT user_id AS raw_user_id, business_id AS raw_item_id, ts AS timestamp
        FROM ({rows}) WHERE {keep.format(m=float(min_stars))}
    """
    try:
        n_pos = copy_parquet(con, query, out_path, keep_order=True)
    except (duckdb.InvalidInputException, duckdb.ConversionException) as e:  # bad content, not resources
        bad = first_bad_review(review_path)
        if bad is None:
            raise BadInputError(review_path, f"cannot be read as JSON lines: {e}") from e
        line, reason, key = bad
        policy.bad(reason, line=line, key=key)  # error mode raises here
        raise  # unreachable in skip mode: ignore_errors makes DuckDB tolerate bad lines
    n_bad = sql_one(con, f"SELECT count(*) FROM ({rows}) WHERE bad")[0] if skip else 0
    return n_pos, n_bad


def ingest_yelp(business_path, review_path, interactions_out, items_out, *, min_stars: float,
                on_bad_record: str = "error", require_categories: bool = True,
                threads: int | None = None, memory_limit: str | None = None) -> dict:
    """Items from the business file, and every positive review as an interaction, in file order.
    Reviews of businesses missing from the item table and repeats of a (user, business) pair are
    kept here: `filter_and_split` drops and counts them, for every format alike."""
    biz_policy = RecordPolicy(business_path, on_bad_record)
    rev_policy = RecordPolicy(review_path, on_bad_record)
    open_text(review_path).close()  # a clear error for a missing/unreadable file
    con = duckdb_connection(threads, memory_limit, spill_dir=Path(interactions_out).parent)
    # The review scan runs in DuckDB (which releases the GIL) while Python parses the businesses.
    with ThreadPoolExecutor(max_workers=1) as pool:
        scan = pool.submit(_positive_reviews, con, review_path, min_stars, interactions_out, rev_policy)
        try:
            items, biz_stats = read_businesses(business_path, biz_policy, require_categories)
        except BaseException:
            con.interrupt()
            raise
        n_pos, n_invalid = scan.result()
    con.close()
    log.info("businesses: %s", biz_stats)
    if n_invalid:
        rev_policy.bad("malformed JSON, or a missing or invalid user_id/business_id/stars/date", n=n_invalid)

    write_parquet(items, items_out)
    stats = {
        "format": "yelp",
        **biz_stats,
        "positive_reviews": n_pos,
        "positive_rule": f"stars >= {min_stars}",
        "bad_records": [biz_policy.summary(), rev_policy.summary()],
    }
    log.info("reviews: %s", {k: v for k, v in stats.items() if k != "bad_records"})
    return stats


def to_epoch_ms(date: str) -> int:
    """A review `date` (UTC, whole seconds) as the pipeline's timestamp: epoch milliseconds."""
    return int(datetime.strptime(date, DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()) * 1000
