"""Durable response cache for paid LLM calls: one SQLite file outside every Snakemake output.

Each valid response is committed the moment it arrives (autocommit, WAL, synchronous=FULL), so a
run killed with `kill -9` loses nothing that was already paid for, and a rerun asks only for what
is missing. Only responses that passed `prompts.parse_response` are ever stored.

Inspect or clear it with:  python -m seller_core.gt.cache {stats,list,clear} PATH [filters]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key            TEXT PRIMARY KEY,
    backend        TEXT NOT NULL,
    model          TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    category       TEXT NOT NULL,
    response       TEXT NOT NULL,
    stop_reason    TEXT,
    input_tokens   INTEGER NOT NULL,
    output_tokens  INTEGER NOT NULL,
    attempts       INTEGER NOT NULL,
    created_at     TEXT NOT NULL
)"""


def request_key(backend, model, system, user, temperature, max_tokens, prompt_version) -> str:
    """Content address of a request: any change to what would be sent makes a new key."""
    payload = json.dumps(
        [backend, model, system, user, None if temperature is None else float(temperature), int(max_tokens),
         prompt_version], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    response: str
    input_tokens: int
    output_tokens: int


class ResponseCache:
    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, each INSERT is its own durable transaction
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(SCHEMA)

    def get(self, key: str) -> CachedResponse | None:
        row = self.db.execute(
            "SELECT response, input_tokens, output_tokens FROM responses WHERE key = ?", (key,)
        ).fetchone()
        return CachedResponse(*row) if row else None

    def put(self, key, *, backend, model, prompt_version, category, response, stop_reason,
            input_tokens, output_tokens, attempts) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (key, backend, model, prompt_version, category, response, stop_reason,
             int(input_tokens), int(output_tokens), int(attempts),
             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        )

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def stats(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT backend, model, prompt_version, COUNT(*), SUM(input_tokens), SUM(output_tokens), "
            "SUM(attempts) FROM responses GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()
        cols = ["backend", "model", "prompt_version", "responses", "input_tokens", "output_tokens", "attempts"]
        return [dict(zip(cols, r)) for r in rows]

    def delete(self, backend=None, model=None, prompt_version=None, category=None) -> int:
        where, args = _filters(backend, model, prompt_version, category)
        return self.db.execute(f"DELETE FROM responses{where}", args).rowcount

    def rows(self, backend=None, model=None, prompt_version=None, category=None):
        where, args = _filters(backend, model, prompt_version, category)
        return self.db.execute(
            f"SELECT category, backend, model, prompt_version, response FROM responses{where} ORDER BY category",
            args,
        ).fetchall()

    def close(self) -> None:
        self.db.close()


def _filters(backend, model, prompt_version, category):
    conds = {"backend": backend, "model": model, "prompt_version": prompt_version, "category": category}
    conds = {k: v for k, v in conds.items() if v is not None}
    where = (" WHERE " + " AND ".join(f"{k} = ?" for k in conds)) if conds else ""
    return where, list(conds.values())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seller_core.gt.cache", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["stats", "list", "clear"])
    ap.add_argument("path", help="the cache file (config gt.cache_path)")
    for f in ("backend", "model", "prompt-version", "category"):
        ap.add_argument(f"--{f}", help=f"only rows with this {f}")
    a = ap.parse_args(argv)
    if not Path(a.path).exists():
        print(f"{a.path}: no such cache file", file=sys.stderr)
        return 1
    cache = ResponseCache(a.path)
    filt = dict(backend=a.backend, model=a.model, prompt_version=a.prompt_version, category=a.category)
    if a.command == "stats":
        print(f"{a.path}: {len(cache)} responses")
        for s in cache.stats():
            print("  " + "  ".join(f"{k}={v}" for k, v in s.items()))
    elif a.command == "list":
        for row in cache.rows(**filt):
            print("\t".join(str(x) for x in row))
    else:
        print(f"deleted {cache.delete(**filt)} responses from {a.path}")
    cache.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
