"""Parquet and JSON writing that is byte-for-byte reproducible for the same content."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(table: pa.Table, path, metadata: dict | None = None) -> None:
    """Write atomically (temp file + rename) so a killed job never leaves a half-written target.
    `metadata` (bytes -> bytes) replaces the schema metadata; pandas' own is always dropped."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # no pandas metadata, fixed compression: same table -> same bytes
    table = table.replace_schema_metadata(metadata)
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


def duckdb_connection(threads: int | None = None, memory_limit: str | None = None, spill_dir=None):
    """An in-memory DuckDB connection; past `memory_limit` its large aggregates spill to `spill_dir`."""
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {sql_str(memory_limit)}")
    # every query that needs an order says ORDER BY; not preserving scan order saves memory
    con.execute("SET preserve_insertion_order = false")
    if spill_dir is not None:
        Path(spill_dir).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {sql_str(Path(spill_dir) / '.duckdb_spill')}")
    return con


def copy_parquet(con, query: str, path, keep_order: bool = False) -> int:
    """Write a DuckDB query's result to parquet without materialising it in Python (atomically,
    like write_parquet); returns the row count. For reproducible bytes the query must either ORDER
    BY or be a scan/filter whose source order is kept (`keep_order`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    con.execute(f"SET preserve_insertion_order = {'true' if keep_order else 'false'}")
    n = sql_one(con, f"COPY ({query}) TO {sql_str(tmp)} (FORMAT parquet, COMPRESSION zstd)")[0]
    con.execute("SET preserve_insertion_order = false")
    os.replace(tmp, path)
    return n
