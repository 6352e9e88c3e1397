"""The gt rules through Snakemake itself, with the anthropic backend pointed at the fake server:
the key stays out of results/, .snakemake/ and the cache, and a forced rerun is free and identical."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fake_messages_server import FakeMessagesServer
from gt_fixtures import CATEGORIES, write_stage_files

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
KEY = "sk-ant-test-SNAKEMAKE-must-not-leak-91c2"
TARGET = "results/data/fx/gt/explanations.parquet"


def _snakemake(workdir, *extra, key=True):
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    if key:
        env["ANTHROPIC_API_KEY"] = KEY
    # the target goes first: --allowed-rules and --forcerun take every word after them
    cmd = [str(SNAKEMAKE), TARGET, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2", "--resources", "anthropic_api=1",
           "--allowed-rules", "gt_queries", "gt_assemble", *extra]
    res = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.mark.slow
def test_snakemake_gt_with_fake_claude(tmp_path):
    write_stage_files(tmp_path)
    with FakeMessagesServer(script=[("status", 429, {"retry-after": "0.05"}), "malformed"]) as s:
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({
            "datasets": {"fx": {"format": "yelp", "synthetic": {"users": 10, "items": 10}}},
            "gt": {"backend": "anthropic", "model": "claude-test", "base_url": s.base_url, "n_queries": 3,
                   "concurrency": 2, "max_retries": 2},
        }))
        _snakemake(tmp_path)
        assert s.requests == len(CATEGORIES) + 2  # one 429 retry, one repair
        first = {p: (tmp_path / p).read_bytes() for p in (TARGET, "results/data/fx/gt/category_queries.parquet")}
        s.reset_counts()
        # forced rerun of both rules, without a key: everything comes from the cache
        _snakemake(tmp_path, "--forcerun", "gt_queries", "gt_assemble", key=False)
        assert s.requests == 0
        assert all((tmp_path / p).read_bytes() == b for p, b in first.items())

    log = (tmp_path / "results/logs/gt_queries/fx.log").read_text()
    assert f"{len(CATEGORIES)} hits, 0 misses" in log  # the log of the last (cached) run
    cache = tmp_path / "resources/gt_cache/claude.sqlite"
    assert cache.exists()
    scanned = 0
    for root in ("results", ".snakemake", "resources"):
        for p in (tmp_path / root).rglob("*"):
            if p.is_file():
                scanned += 1
                assert KEY.encode() not in p.read_bytes(), p
    assert scanned > 10
