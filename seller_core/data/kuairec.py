"""KuaiRec 2.0 ingestion: big_matrix.csv -> positive interactions; item_categories.csv and
kuairec_caption_category.csv -> items.

The interaction matrix (12.5 M rows, 1 GiB) is read by DuckDB's CSV reader with explicit column
types, which also reports the line of any row that does not convert. The two metadata files are
small (10,728 videos) and parsed in Python so each quirk is handled explicitly:
- captions contain commas, quotes and newlines (quoted), and in a few rows a bare carriage
  return inside an UNQUOTED field, which splits the record for a naive CSV reader. A bare `\\r`
  is never a line terminator in these files (lines end in `\\n`), so it is read as a space;
- `-124` / `UNKNOWN` mean a missing category level;
- `feat` is a list of tag ids written as text, `"[27, 9]"`;
- `timestamp` is epoch seconds with a millisecond fraction (`1593898068.378`): kept to the
  millisecond (int64 epoch ms, rounded from the double), so only views in the same millisecond tie.

Item categories are the named levels (first, second, third) in that order, as written in the
file (Chinese in the real dump; `category_names.translate_items` turns them into English before
filtering); a video with no named level falls back to its `feat` tag ids as `tag <id>` (those ids
have no published names).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from pathlib import Path

import duckdb
import pyarrow as pa

from seller_core.data.io import copy_parquet, duckdb_connection, sql_one, sql_str, write_parquet
from seller_core.data.yelp import ITEM_SCHEMA
from seller_core.errors import BadInputError, RecordPolicy, open_text

log = logging.getLogger(__name__)

MATRIX_COLUMNS = {
    "user_id": "BIGINT", "video_id": "BIGINT", "play_duration": "DOUBLE", "video_duration": "DOUBLE",
    "time": "VARCHAR", "date": "VARCHAR", "timestamp": "DOUBLE", "watch_ratio": "DOUBLE",
}
CAPTION_COLUMNS = [
    "video_id", "manual_cover_text", "caption", "topic_tag",
    "first_level_category_id", "first_level_category_name",
    "second_level_category_id", "second_level_category_name",
    "third_level_category_id", "third_level_category_name",
]
MISSING = {"", "UNKNOWN", "-124"}
NAME_CHARS = 80


def _csv_records(path, expected_header: list[str]):
    """Yield (line number, record) from a metadata CSV, bare carriage returns read as spaces."""
    with open_text(path, newline="") as f:
        text = f.read()
    text = re.sub(r"\r(?!\n)", " ", text)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise BadInputError(path, "file is empty (a header line was expected)", line=1) from None
    if [h.strip() for h in header] != expected_header:
        raise BadInputError(path, f"unexpected header {header!r}; expected {expected_header!r}", line=1)
    line = reader.line_num + 1
    try:
        for record in reader:
            yield line, record
            line = reader.line_num + 1
    except csv.Error as e:
        raise BadInputError(path, f"malformed CSV: {e}", line=line) from e


def _video_id(value: str):
    value = value.strip()
    return value if value.isdigit() else None


def read_captions(path, policy: RecordPolicy) -> dict[str, dict]:
    videos: dict[str, dict] = {}
    for line, rec in _csv_records(path, CAPTION_COLUMNS):
        if len(rec) != len(CAPTION_COLUMNS):
            policy.bad(f"expected {len(CAPTION_COLUMNS)} fields, found {len(rec)}", line=line)
            continue
        row = dict(zip(CAPTION_COLUMNS, rec))
        vid = _video_id(row["video_id"])
        if vid is None:
            policy.bad(f"video_id must be a non-negative integer, got {row['video_id']!r}", line=line, key="video_id")
            continue
        names: list[str] = []
        for level in ("first", "second", "third"):
            name = row[f"{level}_level_category_name"].strip()
            if name not in MISSING and name not in names:
                names.append(name)
        caption = " ".join(row["caption"].split())
        cover = row["manual_cover_text"].strip()
        title = caption if caption else ("" if cover in MISSING else cover)
        videos[vid] = {"name": title[:NAME_CHARS], "categories": names}
    return videos


def read_item_tags(path, policy: RecordPolicy) -> dict[str, list[int]]:
    tags: dict[str, list[int]] = {}
    for line, rec in _csv_records(path, ["video_id", "feat"]):
        if len(rec) != 2:
            policy.bad(f"expected 2 fields, found {len(rec)}", line=line)
            continue
        vid = _video_id(rec[0])
        if vid is None:
            policy.bad(f"video_id must be a non-negative integer, got {rec[0]!r}", line=line, key="video_id")
            continue
        try:
            feat = json.loads(rec[1])
            if not isinstance(feat, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in feat):
                raise ValueError
        except ValueError:
            policy.bad(f"feat must be a list of integer tag ids like \"[27, 9]\", got {rec[1]!r}", line=line, key="feat")
            continue
        tags[vid] = feat
    return tags


def build_items(captions: dict[str, dict], tags: dict[str, list[int]], require_categories: bool) -> tuple[pa.Table, dict]:
    rows = {name: [] for name in ITEM_SCHEMA.names}
    from_tags = dropped = 0
    for vid in sorted(set(captions) | set(tags), key=int):
        meta = captions.get(vid, {"name": "", "categories": []})
        categories = list(meta["categories"])
        if not categories:
            categories = [f"tag {t}" for t in dict.fromkeys(tags.get(vid, []))]
            from_tags += bool(categories)
        if not categories and require_categories:
            dropped += 1
            continue
        rows["raw_item_id"].append(vid)
        rows["name"].append(meta["name"] or f"video {vid}")
        rows["categories"].append(categories)
        rows["description"].append(describe_video(categories))
    stats = {"videos_with_metadata": len(set(captions) | set(tags)), "videos_categories_from_feat_tags": from_tags,
             "videos_without_categories": dropped}
    return pa.table(rows, schema=ITEM_SCHEMA), stats


def describe_video(categories: list[str]) -> str:
    """KuaiRec has little metadata: the paper uses the category field as the item text. Written
    here from the source names; `category_names.translate_items` rewrites it from the English ones."""
    return ", ".join(categories)


def _first_reject(con, path) -> tuple[int, str, str]:
    cols = _columns_sql()
    # every column selected: the reader only converts (and so only rejects) columns it projects
    con.execute(f"CREATE TEMP TABLE scan AS SELECT * FROM read_csv({sql_str(path)}, header=true, auto_detect=false, "
                f"columns={cols}, store_rejects=true)")
    row = sql_one(con, "SELECT line, column_name, error_message FROM reject_errors ORDER BY line LIMIT 1")
    return row if row else (None, None, "unreadable CSV")


def _columns_sql() -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in MATRIX_COLUMNS.items()) + "}"


def ingest_kuairec(interactions_path, item_categories_path, captions_path, interactions_out, items_out, *,
                   min_watch_ratio: float, on_bad_record: str = "error", require_categories: bool = True,
                   threads: int | None = None, memory_limit: str | None = None) -> dict:
    """Items from the two metadata files, and every positive view as an interaction, in file order.
    Views of videos missing from the item table and repeats of a (user, video) pair are kept here:
    `filter_and_split` drops and counts them, for every format alike."""
    cap_policy = RecordPolicy(captions_path, on_bad_record)
    tag_policy = RecordPolicy(item_categories_path, on_bad_record)
    items, item_stats = build_items(read_captions(captions_path, cap_policy), read_item_tags(item_categories_path, tag_policy),
                                    require_categories)
    log.info("videos: %s", item_stats)

    open_text(interactions_path).close()
    mat_policy = RecordPolicy(interactions_path, on_bad_record)
    con = duckdb_connection(threads, memory_limit, spill_dir=Path(interactions_out).parent)
    skip = on_bad_record == "skip"
    scan = (f"read_csv({sql_str(interactions_path)}, header=true, auto_detect=false, columns={_columns_sql()}"
            + (", store_rejects=true" if skip else "") + ")")
    missing = "(user_id IS NULL OR video_id IS NULL OR timestamp IS NULL OR watch_ratio IS NULL)"
    positive = f"watch_ratio >= {float(min_watch_ratio)}"
    # one CASE, so that every row is checked before the positive rule can drop it
    keep = f"NOT {missing} AND {positive}" if skip else f"CASE WHEN {missing} THEN error('missing field') ELSE {positive} END"
    query = f"""
        SELECT user_id::VARCHAR AS raw_user_id, video_id::VARCHAR AS raw_item_id, round(timestamp * 1000)::BIGINT AS timestamp
        FROM {scan} WHERE {keep}
    """
    try:
        n_pos = copy_parquet(con, query, interactions_out, keep_order=True)
    except duckdb.ConversionException as e:
        line, column, message = _first_reject(duckdb.connect(), interactions_path)
        if line is None:
            raise BadInputError(interactions_path, f"cannot be read as CSV: {e}") from e
        mat_policy.bad(message, line=line, key=column)
        raise
    except duckdb.InvalidInputException as e:
        line, column = _first_null(con, interactions_path)
        if line is None:
            raise BadInputError(interactions_path, f"cannot be read as CSV: {e}") from e
        mat_policy.bad("missing required field", line=line, key=column)
        raise
    if skip:
        n_rejected = sql_one(con, "SELECT count(*) FROM reject_errors")[0]
        if n_rejected:
            first = sql_one(con, "SELECT line, column_name, error_message FROM reject_errors ORDER BY line LIMIT 1")
            mat_policy.bad(f"{first[2]} (first at line {first[0]})", n=n_rejected)
        n_missing = sql_one(con, f"SELECT count(*) FROM read_csv({sql_str(interactions_path)}, header=true, "
                                 f"auto_detect=false, columns={_columns_sql()}, ignore_errors=true) WHERE {missing}")[0]
        if n_missing:
            mat_policy.bad("missing user_id/video_id/timestamp/watch_ratio", n=n_missing)
    con.close()

    write_parquet(items, items_out)
    stats = {
        "format": "kuairec",
        **item_stats,
        "items_kept": items.num_rows,
        "positive_rows": n_pos,
        "positive_rule": f"watch_ratio >= {min_watch_ratio}",
        "bad_records": [cap_policy.summary(), tag_policy.summary(), mat_policy.summary()],
    }
    log.info("interactions: %s", {k: v for k, v in stats.items() if k != "bad_records"})
    return stats


def _first_null(con, path) -> tuple[int | None, str | None]:
    """Line (1 = header) and column of the first row with an empty required field."""
    cols = ", ".join(MATRIX_COLUMNS)
    row = sql_one(con, f"""
        SELECT rn + 1, CASE WHEN user_id IS NULL THEN 'user_id' WHEN video_id IS NULL THEN 'video_id'
                            WHEN timestamp IS NULL THEN 'timestamp' ELSE 'watch_ratio' END
        FROM (SELECT {cols}, row_number() OVER () AS rn FROM read_csv({sql_str(path)}, header=true,
              auto_detect=false, columns={_columns_sql()}))
        WHERE user_id IS NULL OR video_id IS NULL OR timestamp IS NULL OR watch_ratio IS NULL
        ORDER BY rn LIMIT 1
    """)
    return (row[0], row[1]) if row else (None, None)
