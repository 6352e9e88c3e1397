"""Parquet and JSON writing that is byte-for-byte reproducible for the same content."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(table: pa.Table, path) -> None:
    """Write atomically (temp file + rename) so a killed job never leaves a half-written target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # no pandas metadata, fixed compression: same table -> same bytes
    table = table.replace_schema_metadata(None)
    pq.write_table(table, tmp, compression="zstd", write_statistics=True)
    os.replace(tmp, path)


def write_json(obj, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def sql_str(value) -> str:
    """A SQL string literal (DuckDB table functions take file paths as literals, not parameters)."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_one(con, query: str):
    """First row of a query, or None. Fetches everything: DuckDB refuses new work on a connection
    while a result is only partly fetched."""
    rows = con.execute(query).fetchall()
    return rows[0] if rows else None
