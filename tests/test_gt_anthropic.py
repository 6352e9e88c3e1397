"""The anthropic backend through the real SDK over real HTTP, against a scriptable local server.

Every claim is checked by counting requests at the server: retries recover, unusable output never
reaches the cache, a killed run resumes with exactly the missing requests, a rerun makes none,
the caps stop before spending, and the key never lands in a file.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import pyarrow.parquet as pq
import pytest

from fake_messages_server import FakeMessagesServer
from gt_fixtures import CATEGORIES, gt_cfg, write_stage_files
from seller_core.gt.cache import ResponseCache
from seller_core.gt.generate import GenerationFailed, SpendingCapExceeded, generate_category_queries
from seller_core.logs import setup_logging

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-ant-test-DO-NOT-LEAK-7f3a9c"
N = len(CATEGORIES)


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    return KEY


def _setup(tmp_path, server, **over):
    paths = write_stage_files(tmp_path)
    cfg = gt_cfg(tmp_path, backend="anthropic", base_url=server.base_url, **over)
    return paths, cfg, tmp_path / "results/data/fx/gt/category_queries.parquet"


def _cached_categories(cfg):
    return {r[0] for r in ResponseCache(cfg["cache_path"]).rows()}


def test_transport_faults_are_retried_by_the_sdk(tmp_path, api_key):
    script = [("status", 429, {"retry-after": "0.05"}), ("status", 500, {"retry-after-ms": "20"}),
              ("status", 529, {}), "reset", ("delay", 0.2)]
    with FakeMessagesServer(script=script) as s:
        paths, cfg, out = _setup(tmp_path, s)
        stats = generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert s.statuses[429] == s.statuses[500] == s.statuses[529] == s.statuses["reset"] == 1
        assert s.requests == N + 4 and stats["requests"] == N  # 4 transport retries, invisible to the run
        assert s.api_keys == {f"Bearer {KEY}"} or s.api_keys == {KEY}
    t = pq.read_table(out)
    assert sorted(set(t["category"].to_pylist())) == CATEGORIES and set(t["backend"].to_pylist()) == {"anthropic"}
    assert set(t["model"].to_pylist()) == {"claude-test"}
    assert len(_cached_categories(cfg)) == N


def test_unusable_output_is_repaired_and_never_cached(tmp_path, api_key):
    per_cat = {"Bars": ["malformed"], "Pizza": ["truncated"],
               "Mexican": ["malformed", "truncated", "wrong_shape"]}  # fails all 1 + max_repairs attempts
    with FakeMessagesServer(per_category=per_cat) as s:
        paths, cfg, out = _setup(tmp_path, s, max_repairs=2)
        with pytest.raises(GenerationFailed, match="Mexican") as err:
            generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert set(err.value.failures) == {"Mexican"}
        assert s.requests == N + 1 + 1 + 2
        # the repair request shows the model its answer and asks again
        repair = [b for b in s.bodies if len(b["messages"]) == 3 and '"Bars"' in b["messages"][0]["content"]][0]
        assert repair["messages"][1]["role"] == "assistant" and "could not be used" in repair["messages"][2]["content"]
        assert not out.exists()
        assert _cached_categories(cfg) == set(CATEGORIES) - {"Mexican"}
        for (response,) in sqlite3.connect(cfg["cache_path"]).execute("SELECT response FROM responses"):
            json.loads(response)  # only parseable responses were stored
        attempts = dict(sqlite3.connect(cfg["cache_path"]).execute("SELECT category, attempts FROM responses"))
        assert attempts["Bars"] == attempts["Pizza"] == 2 and attempts["Restaurants"] == 1
        # rerun: only the failed category is asked again
        s.reset_counts()
        generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert s.requests == 1 and s.by_category == {"Mexican": 1}
    assert out.exists()


def test_second_run_makes_zero_requests_and_needs_no_key(tmp_path, api_key, monkeypatch):
    with FakeMessagesServer() as s:
        paths, cfg, out = _setup(tmp_path, s)
        generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        first = out.read_bytes()
        assert s.requests == N
        s.reset_counts()
        monkeypatch.delenv("ANTHROPIC_API_KEY")
        out.unlink()
        stats = generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert s.requests == 0 and stats == {**stats, "hits": N, "misses": 0, "requests": 0}
        assert out.read_bytes() == first


def test_missing_key_fails_at_once_with_pending_count(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with FakeMessagesServer() as s:
        paths, cfg, out = _setup(tmp_path, s)
        with pytest.raises(Exception, match=f"ANTHROPIC_API_KEY is not set, and {N} request"):
            generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert s.requests == 0


def test_spending_caps_stop_before_sending(tmp_path, api_key):
    with FakeMessagesServer(per_category={"Bars": ["malformed"]}) as s:
        paths, cfg, out = _setup(tmp_path, s, max_requests=N - 1)
        with pytest.raises(SpendingCapExceeded, match="max_requests"):
            generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        cfg.update(max_requests=1000, max_cost_usd=0.001)
        with pytest.raises(SpendingCapExceeded, match="max_cost_usd"):
            generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert s.requests == 0
        # enough for every category once, but not for the repair Bars needs: stops at the cap
        cfg.update(max_requests=N, max_cost_usd=5.0)
        with pytest.raises(SpendingCapExceeded, match="Bars"):
            generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert s.requests == N
        assert _cached_categories(cfg) == set(CATEGORIES) - {"Bars"}


def test_fatal_api_errors_stop_the_run(tmp_path, api_key):
    with FakeMessagesServer(default=("status", 401, {})) as s:
        paths, cfg, out = _setup(tmp_path, s, concurrency=1)
        with pytest.raises(anthropic.AuthenticationError):
            generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert s.requests == 1  # no retry of a bad key, no further categories


def test_concurrency_is_bounded(tmp_path, api_key):
    with FakeMessagesServer(default=("delay", 0.15)) as s:
        paths, cfg, out = _setup(tmp_path, s, concurrency=3)
        generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert s.max_inflight == 3


RUNNER = """
import json, sys
from seller_core.gt.generate import generate_category_queries
from seller_core.logs import setup_logging
setup_logging(sys.argv[4])
generate_category_queries(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), domain="Yelp")
"""


def test_kill_after_k_of_n_then_rerun_makes_n_minus_k_requests(tmp_path, api_key):
    k = 4
    with FakeMessagesServer(script=["good"] * k, default="hang") as s:
        paths, cfg, out = _setup(tmp_path, s, concurrency=2)
        log = tmp_path / "results/logs/gt_queries/fx.log"
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(paths["items"]), str(out), json.dumps(cfg), str(log)],
                                env=env, cwd=tmp_path)
        deadline = time.time() + 60
        while time.time() < deadline:
            if Path(cfg["cache_path"]).exists():
                try:
                    if len(_cached_categories(cfg)) == k and s.statuses["hang"] >= 1:
                        break
                except sqlite3.OperationalError:  # table not created yet
                    pass
            time.sleep(0.05)
        else:
            proc.kill()
            pytest.fail("the run never reached k cached responses")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not out.exists()
        assert len(_cached_categories(cfg)) == k

        s.reset_counts()
        s.default = "good"
        s.release()
        generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert s.requests == N - k
        s.reset_counts()
        generate_category_queries(paths["items"], out, cfg, domain="Yelp")
        assert s.requests == 0
    assert sorted(set(pq.read_table(out)["category"].to_pylist())) == CATEGORIES


def test_key_never_written_to_any_file(tmp_path, api_key):
    setup_logging(tmp_path / "results/logs/gt_queries/fx.log")
    try:
        with FakeMessagesServer(script=["malformed", ("status", 429, {"retry-after": "0.01"})],
                                per_category={"Pizza": ["malformed"] * 5}) as s:
            paths, cfg, out = _setup(tmp_path, s)
            with pytest.raises(GenerationFailed):
                generate_category_queries(paths["items"], out, cfg, domain="Yelp")
            s.reset_counts()
            generate_category_queries(paths["items"], out, cfg, domain="Yelp")
    finally:
        setup_logging(None)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in files) and any(p.suffix == ".log" for p in files)
    assert any("category 'Pizza' failed" in p.read_text() for p in files if p.suffix == ".log")
    for p in files:
        assert KEY.encode() not in p.read_bytes(), p
