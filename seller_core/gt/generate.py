"""Per-category query generation: one request per category (never per user-item pair), through the
durable cache, with spending caps, bounded concurrency and retry-with-repair for unusable output."""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from seller_core.data.io import write_parquet
from seller_core.errors import BadInputError

from .backends import AnthropicBackend, Completion, OfflineBackend, Request
from .cache import ResponseCache, request_key
from .prompts import (PROMPT_VERSION, REPAIR_INVALID, REPAIR_TRUNCATED, SYSTEM_PROMPT, CategoryQueries,
                      InvalidResponse, parse_response, user_prompt, repair_turns)

log = logging.getLogger(__name__)

QUERY_SCHEMA = pa.schema([
    ("category", pa.string()), ("kind", pa.string()), ("query", pa.string()),
    ("model", pa.string()), ("prompt_version", pa.string()), ("backend", pa.string()),
])


class SpendingCapExceeded(RuntimeError):
    pass


class RunAborted(RuntimeError):
    """A queued request skipped because the run is stopping."""


class GenerationFailed(RuntimeError):
    def __init__(self, failures: dict[str, str]):
        self.failures = failures
        lines = "\n".join(f"  {c!r}: {why}" for c, why in sorted(failures.items()))
        super().__init__(
            f"{len(failures)} categor{'y' if len(failures) == 1 else 'ies'} failed (their valid "
            f"siblings are cached; a rerun asks only for these):\n{lines}"
        )


def read_categories(items_path) -> list[str]:
    """All distinct categories of the dataset's items, sorted."""
    try:
        table = pq.read_table(items_path, columns=["item_id", "categories"])
    except (OSError, pa.ArrowInvalid, KeyError) as e:
        raise BadInputError(items_path, f"cannot read item_id/categories: {e}") from e
    cats = set()
    for i, lst in zip(table["item_id"].to_pylist(), table["categories"].to_pylist()):
        for c in lst or []:
            if not isinstance(c, str) or not c.strip():
                raise BadInputError(items_path, f"item {i} has an empty or non-string category: {c!r}", key="categories")
            cats.add(c)
    if not cats:
        raise BadInputError(items_path, "no item has any category", key="categories")
    return sorted(cats)


def make_backend(cfg: dict, categories):
    if cfg["backend"] == "offline":
        return OfflineBackend(categories, seed=cfg["seed"])
    if cfg["backend"] == "anthropic":
        return AnthropicBackend(cfg["model"], max_retries=cfg["max_retries"], timeout_s=cfg["timeout_s"],
                                base_url=cfg.get("base_url"))
    raise ValueError(f"gt.backend must be 'offline' or 'anthropic', not {cfg['backend']!r}")


@dataclass
class Ledger:
    """What this run paid for: every request that reached the backend, valid or not."""
    price_in: float  # USD per million input tokens
    price_out: float
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, c: Completion) -> None:
        self.input_tokens += c.input_tokens
        self.output_tokens += c.output_tokens

    def cost(self, tin=None, tout=None) -> float:
        tin = self.input_tokens if tin is None else tin
        tout = self.output_tokens if tout is None else tout
        return (tin * self.price_in + tout * self.price_out) / 1e6


def estimate_input_tokens(req: Request) -> int:
    # ~4 characters per token for English, plus the message framing; an estimate only
    return math.ceil((len(req.system) + len(req.user)) / 4) + 20


def generate_category_queries(items_path, out_path, cfg: dict, domain: str, concurrency: int | None = None) -> dict:
    """Writes category_queries.parquet; returns run statistics (hits, misses, requests, tokens, cost)."""
    categories = read_categories(items_path)
    backend = make_backend(cfg, categories)
    n = cfg["n_queries"]
    reqs = []
    for c in categories:
        user = user_prompt(c, domain, n)
        key = request_key(backend.name, backend.model, SYSTEM_PROMPT, user, cfg["temperature"], cfg["max_tokens"],
                          PROMPT_VERSION)
        reqs.append(Request(c, n, SYSTEM_PROMPT, user, cfg["max_tokens"], cfg["temperature"], key))
    log.info("%d categories in %s -> %d requests (one per category), backend=%s model=%s prompt_version=%s",
             len(categories), items_path, len(reqs), backend.name, backend.model, PROMPT_VERSION)

    if backend.name == "offline":
        # free and deterministic: computed, never cached (the cache is for paid responses)
        log.warning("backend=offline: template phrases, NOT Claude; set gt.backend: anthropic for the paper's GT")
        results = {r.category: parse_response(backend.complete(r, []).text, n) for r in reqs}
        stats = {"categories": len(reqs), "hits": 0, "misses": 0, "requests": 0}
    else:
        results, stats = _run_cached(reqs, backend, cfg, concurrency or cfg["concurrency"])

    rows = {k: [] for k in QUERY_SCHEMA.names}
    for r in reqs:
        q = results[r.category]
        for kind, qs in (("explicit", q.explicit), ("implicit", q.implicit)):
            for text in qs:
                for k, v in zip(QUERY_SCHEMA.names, (r.category, kind, text, backend.model, PROMPT_VERSION, backend.name)):
                    rows[k].append(v)
    write_parquet(pa.table(rows, schema=QUERY_SCHEMA), out_path)
    log.info("wrote %s (%d queries)", out_path, len(rows["query"]))
    return stats


@dataclass(frozen=True)
class Task:
    """What a cached run of requests asks for: how a response is checked (parse(text, n) returns the
    result or raises InvalidResponse), how to ask again after an unusable one, and the prompt
    version stored with each cached response. QUERIES (below) is the GT's; seller_core.gt.names
    translates category names through the same machinery."""
    parse: Callable[[str, int], object]
    repair: Callable[[Request, Completion, str], list]
    prompt_version: str


def run_cached(reqs: list[Request], backend, cfg: dict, task: "Task", concurrency: int | None = None):
    """Results (by request category) of `reqs` through the durable cache, the spending caps and
    the repair loop; returns (results, stats)."""
    return _run_cached(reqs, backend, cfg, concurrency or cfg["concurrency"], task)


def _run_cached(reqs: list[Request], backend, cfg: dict, concurrency: int, task: "Task | None" = None):
    task = task or QUERIES
    # one INFO line per HTTP request drowns the log; the SDK's own retry lines stay visible
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    cache = ResponseCache(cfg["cache_path"])
    ledger = Ledger(cfg["price_per_mtok"]["input"], cfg["price_per_mtok"]["output"])
    results: dict[str, CategoryQueries] = {}
    cached_in = cached_out = 0
    misses = []
    for r in reqs:
        hit = cache.get(r.key)
        if hit is None:
            misses.append(r)
            continue
        results[r.category] = task.parse(hit.response, r.n)  # only valid responses were stored
        cached_in += hit.input_tokens
        cached_out += hit.output_tokens
    log.info("cache %s: %d hits, %d misses (hits had cost %d input + %d output tokens, ~$%.4f)",
             cfg["cache_path"], len(reqs) - len(misses), len(misses), cached_in, cached_out,
             ledger.cost(cached_in, cached_out))
    stats = {"categories": len(reqs), "hits": len(reqs) - len(misses), "misses": len(misses)}
    if misses:
        _check_budget_and_fetch(misses, backend, cfg, concurrency, cache, ledger, results, task)
    cache.close()
    stats.update(requests=ledger.requests, input_tokens=ledger.input_tokens, output_tokens=ledger.output_tokens,
                 cost_usd=round(ledger.cost(), 6))
    log.info("this run: %d requests, %d input + %d output tokens, ~$%.4f at $%s/$%s per MTok",
             ledger.requests, ledger.input_tokens, ledger.output_tokens, ledger.cost(), ledger.price_in,
             ledger.price_out)
    return results, stats


def _check_budget_and_fetch(misses, backend, cfg, concurrency, cache, ledger, results, task):
    est_in = sum(estimate_input_tokens(r) for r in misses)
    est_out = len(misses) * cfg["est_output_tokens"]
    est_cost = ledger.cost(est_in, est_out)
    per_request = est_cost / len(misses)
    log.info("about to make %d requests to %s (%s): estimated %d input + %d output tokens, ~$%.4f "
             "(caps: max_requests=%s, max_cost_usd=%s)", len(misses), backend.name, backend.model, est_in, est_out,
             est_cost, cfg["max_requests"], cfg["max_cost_usd"])
    if len(misses) > cfg["max_requests"]:
        raise SpendingCapExceeded(
            f"{len(misses)} uncached requests exceed gt.max_requests={cfg['max_requests']}; nothing was sent. "
            "Raise the cap in config if this is intended.")
    if est_cost > cfg["max_cost_usd"]:
        raise SpendingCapExceeded(
            f"estimated cost ${est_cost:.4f} for {len(misses)} requests exceeds gt.max_cost_usd="
            f"{cfg['max_cost_usd']}; nothing was sent. Raise the cap in config if this is intended.")
    backend.connect(pending=len(misses))

    failures: dict[str, str] = {}
    capped = []
    max_repairs = cfg["max_repairs"]
    stop = threading.Event()

    def call(req, messages):
        if stop.is_set():  # a fatal error elsewhere: do not send what is still queued
            raise RunAborted()
        try:
            return backend.complete(req, messages)
        except Exception as e:
            if backend.is_fatal(e):
                stop.set()  # set in the worker, so the next queued request never starts
            raise

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="gt") as pool:
        inflight = {}

        def submit(req, messages, attempt):
            # caps are checked before every request, repairs included: what was spent plus the
            # estimate for everything in flight and this one must stay within them
            projected = ledger.cost() + per_request * (len(inflight) + 1)
            if ledger.requests + 1 > cfg["max_requests"] or projected > cfg["max_cost_usd"]:
                capped.append(req.category)
                failures[req.category] = "not sent: spending cap reached"
                return
            ledger.requests += 1
            inflight[pool.submit(call, req, messages)] = (req, messages, attempt)

        for r in misses:
            submit(r, [{"role": "user", "content": r.user}], 0)
        try:
            while inflight:
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    req, messages, attempt = inflight.pop(fut)
                    try:
                        comp = fut.result()
                    except RunAborted:
                        continue
                    except Exception as e:  # transport errors here already went through the SDK's retries
                        if backend.is_fatal(e):
                            stop.set()
                            raise
                        failures[req.category] = f"{type(e).__name__} after SDK retries: {e}"
                        log.warning("category %r failed: %s", req.category, failures[req.category])
                        continue
                    ledger.add(comp)
                    try:
                        if comp.stop_reason == "max_tokens":
                            raise InvalidResponse("truncated (stop_reason=max_tokens)")
                        q = task.parse(comp.text, req.n)
                    except InvalidResponse as e:
                        if attempt < max_repairs:
                            log.warning("category %r: unusable response (%s); repair attempt %d/%d",
                                        req.category, e, attempt + 1, max_repairs)
                            submit(req, task.repair(req, comp, str(e)), attempt + 1)
                        else:
                            failures[req.category] = f"unusable after {attempt + 1} attempts: {e}"
                            log.warning("category %r failed: %s", req.category, failures[req.category])
                        continue
                    # committed now: a kill after this line loses nothing already paid for
                    cache.put(req.key, backend=backend.name, model=backend.model, prompt_version=task.prompt_version,
                              category=req.category, response=comp.text, stop_reason=comp.stop_reason,
                              input_tokens=comp.input_tokens, output_tokens=comp.output_tokens, attempts=attempt + 1)
                    results[req.category] = q
                    if len(results) % 50 == 0:
                        log.info("%d categories done, ~$%.4f spent so far", len(results), ledger.cost())
        except BaseException:
            stop.set()
            for fut in inflight:
                fut.cancel()
            raise
    if capped:
        raise SpendingCapExceeded(
            f"stopped at the spending cap (max_requests={cfg['max_requests']}, max_cost_usd={cfg['max_cost_usd']}) "
            f"after {ledger.requests} requests (~${ledger.cost():.4f}); {len(capped)} categories not sent: "
            f"{sorted(capped)[:20]}. Everything received so far is cached.")
    if failures:
        raise GenerationFailed(failures)


def _repair_messages(req: Request, comp: Completion, reason: str) -> list[dict]:
    n = req.n
    fix = (REPAIR_TRUNCATED.format(n=n) if comp.stop_reason == "max_tokens"
           else REPAIR_INVALID.format(reason=reason, n=n))
    return repair_turns(req.user, comp.text, fix)


QUERIES = Task(parse_response, _repair_messages, PROMPT_VERSION)
