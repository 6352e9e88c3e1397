"""Yelp Open Dataset ingestion: business.json -> items, review.json -> positive interactions.

The review dump is multi-GB JSON lines, so DuckDB reads and filters it in a streaming scan and
never materialises it in Python. The business file (~150 k lines) is parsed line by line in
Python, because its `attributes` hold stringified Python literals that need per-value parsing.

Real-file quirks handled here (see tests/fixtures for a reproduction):
- `categories` is ONE comma-separated string, or null;
- `attributes` values are strings: "True", "u'free'", "'none'", "2", or a stringified dict
  "{'garage': False, 'lot': True}"; `attributes` itself may be null;
- `hours` may be null;
- review `date` is "YYYY-MM-DD HH:MM:SS"; review `text` holds escaped newlines and quotes.
"""

from __future__ import annotations

import ast
import json
import logging
from datetime import datetime, timezone

import duckdb
import pyarrow as pa

from seller_core.errors import BadInputError, RecordPolicy, open_text
from seller_core.data.io import sql_one, sql_str, write_parquet

log = logging.getLogger(__name__)

ITEM_SCHEMA = pa.schema(
    [("raw_item_id", pa.string()), ("name", pa.string()), ("categories", pa.list_(pa.string())), ("description", pa.string())]
)
INTERACTION_SCHEMA = pa.schema([("raw_user_id", pa.string()), ("raw_item_id", pa.string()), ("timestamp", pa.int64())])

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


def parse_attribute(value):
    """Yelp stores attribute values as Python-literal strings: "True", "u'free'", "{'lot': True}"."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value
    if isinstance(parsed, (bool, str, int, float, dict)) or parsed is None:
        return parsed
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


def ingest_yelp(business_path, review_path, interactions_out, items_out, *, min_stars: float,
                on_bad_record: str = "error", dedupe: str = "first", require_categories: bool = True,
                threads: int | None = None) -> dict:
    biz_policy = RecordPolicy(business_path, on_bad_record)
    items, biz_stats = read_businesses(business_path, biz_policy, require_categories)
    log.info("businesses: %s", biz_stats)

    rev_policy = RecordPolicy(review_path, on_bad_record)
    open_text(review_path).close()  # a clear error for a missing/unreadable file
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.register("items", items.select(["raw_item_id"]))
    skip = on_bad_record == "skip"
    valid = (
        "user_id IS NOT NULL AND business_id IS NOT NULL AND stars IS NOT NULL AND date IS NOT NULL "
        f"AND try_strptime(date, '{DATE_FORMAT}') IS NOT NULL"
    )
    try:
        con.execute(f"CREATE TEMP TABLE reviews AS SELECT * FROM {_review_scan(review_path, skip)}")
        counts = sql_one(con, f"SELECT count(*), count(*) FILTER (WHERE NOT ({valid})) FROM reviews")
    except duckdb.Error as e:
        bad = first_bad_review(review_path)
        if bad is None:
            raise BadInputError(review_path, f"cannot be read as JSON lines: {e}") from e
        line, reason, key = bad
        rev_policy.bad(reason, line=line, key=key)  # error mode raises here
        raise  # unreachable in skip mode: ignore_errors makes DuckDB tolerate bad lines
    n_reviews, n_invalid = counts
    if n_invalid:
        if not skip:
            bad = first_bad_review(review_path)
            line, reason, key = bad if bad else (None, f"{n_invalid} records with missing or invalid fields", None)
            rev_policy.bad(reason, line=line, key=key)
        rev_policy.bad("malformed JSON, or a missing or invalid user_id/business_id/stars/date", n=n_invalid)

    order_dedupe = "QUALIFY row_number() OVER (PARTITION BY user_id, business_id ORDER BY ts) = 1" if dedupe == "first" else ""
    query = f"""
        WITH pos AS (
            SELECT user_id, business_id, epoch(strptime(date, '{DATE_FORMAT}'))::BIGINT AS ts
            FROM reviews WHERE {valid} AND stars >= {float(min_stars)}
        ), known AS (
            SELECT * FROM pos SEMI JOIN items ON pos.business_id = items.raw_item_id
            {order_dedupe}
        )
        SELECT user_id AS raw_user_id, business_id AS raw_item_id, ts AS timestamp
        FROM known ORDER BY raw_user_id, timestamp, raw_item_id
    """
    interactions = con.sql(query).to_arrow_table().cast(INTERACTION_SCHEMA)
    n_pos = sql_one(con, f"SELECT count(*) FROM reviews WHERE {valid} AND stars >= {float(min_stars)}")[0]
    con.close()

    write_parquet(items, items_out)
    write_parquet(interactions, interactions_out)
    stats = {
        "format": "yelp",
        **biz_stats,
        "review_lines": n_reviews,
        "positive_reviews": n_pos,
        "positive_rule": f"stars >= {min_stars}",
        "interactions_kept": interactions.num_rows,
        "dropped_unknown_or_uncategorised_business_or_duplicate": n_pos - interactions.num_rows,
        "bad_records": [biz_policy.summary(), rev_policy.summary()],
    }
    log.info("reviews: %s", {k: v for k, v in stats.items() if k != "bad_records"})
    return stats


def to_epoch(date: str) -> int:
    return int(datetime.strptime(date, DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp())
