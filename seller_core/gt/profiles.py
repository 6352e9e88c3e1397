"""XRec's user and item profiles, through the GT backend and its response cache.

XRec (HKUDS/XRec `generation/instructions/yelp_{user,item}.txt`) has GPT-3.5 summarise each user
and each item in at most 50 words, answering JSON {"summarization": ...}; the explainer reads
those summaries in its prompt. Here the request goes to the configured GT backend:
- `gt.backend: anthropic` (the paper setting: Claude): one request per user with a training
  history and one per item, through `generate.run_cached` -- the same durable SQLite cache
  (`gt.cache_path`, outside every output), SDK retries, repair loop and spending caps as the GT
  queries, with the caps of `xrec.profiles` (a paper-scale run needs ~10^5 requests, far above the
  GT's). A rerun pays 0 requests.
- `gt.backend: offline`: deterministic TEMPLATE profiles built from item metadata (name,
  categories, description) and the user's TRAINING interactions only, labelled
  backend=offline, model=offline-template-profile-v2 in every row. Computed, never cached.

The prompts are our reconstruction of XRec's instructions (their text is not in the paper);
editing them must bump PROFILE_PROMPT_VERSION (part of every cache key and every row).
"""

from __future__ import annotations

import logging
from collections import Counter

import pandas as pd
import pyarrow as pa

from seller_core.data import stage_io
from seller_core.data.io import write_parquet
from seller_core.errors import BadInputError

from .backends import Completion, Request
from .cache import request_key
from .generate import Task, make_backend, run_cached
from .prompts import InvalidResponse, json_string_field, repair_turns

log = logging.getLogger(__name__)

PROFILE_PROMPT_VERSION = "xrec-profile-v1"
OFFLINE_PROFILE_MODEL = "offline-template-profile-v2"
PROFILE_SCHEMA = pa.schema([
    ("kind", pa.string()), ("id", pa.int64()), ("raw_id", pa.string()), ("text", pa.string()),
    ("backend", pa.string()), ("model", pa.string()), ("prompt_version", pa.string()),
])

SYSTEM_PROMPT = (
    "You write short profiles of users and items of a recommendation platform, for a model that "
    "explains recommendations. You always answer with a single JSON object and nothing else: no "
    "prose, no markdown fences."
)
USER_TEMPLATE = """Platform: {domain}
Profile of: a user
The user's past interactions, oldest first (name | categories):
{history}

Summarize in at most {max_words} words what kinds of items this user enjoys and what they seem
to look for. Answer with exactly this JSON shape:
{{"summarization": "..."}}"""
ITEM_TEMPLATE = """Platform: {domain}
Profile of: an item
Name: {name}
Categories: {categories}
Description: {description}

Summarize in at most {max_words} words what this item offers and which users would enjoy it.
Answer with exactly this JSON shape:
{{"summarization": "..."}}"""
REPAIR = ('Your previous answer could not be used: {reason}. Answer again with ONLY the JSON object '
          '{{"summarization": "..."}}, at most {max_words} words.')


def parse_profile(text: str, max_words: int) -> str:
    """The summary of a JSON answer, whitespace-normalised; anything else raises InvalidResponse.
    (Task.parse gets `n` = max_words: a summary may overrun it by half before it is refused.)"""
    summary = json_string_field(text, "summarization")
    if not summary:
        raise InvalidResponse("empty summarization")
    if len(summary.split()) > max_words * 3 // 2:
        raise InvalidResponse(f"summarization has {len(summary.split())} words, more than {max_words}")
    return summary


def _repair(req: Request, comp: Completion, reason: str) -> list[dict]:
    return repair_turns(req.user, comp.text, REPAIR.format(reason=reason, max_words=req.n))


PROFILES = Task(parse_profile, _repair, PROFILE_PROMPT_VERSION)


# ---------------------------------------------------------------- inputs
def read_entities(items_path, users_path, interactions_path, max_history: int):
    """items (item_id, raw_item_id, name, categories, description) and, per user_id, the dense ids
    of the user's last `max_history` TRAINING interactions, oldest first (valid/test never seen)."""
    items = stage_io.read_parquet(items_path, ["item_id", "raw_item_id", "name", "categories", "description"])
    users = stage_io.read_parquet(users_path, ["user_id", "raw_user_id"])
    inter = stage_io.read_parquet(interactions_path, ["user_id", "item_id", "timestamp", "split"])
    stage_io.check_ids(inter, "item_id", len(items), interactions_path)
    stage_io.check_ids(inter, "user_id", len(users), interactions_path)
    train = inter[inter["split"] == "train"].sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    if train.empty:
        raise BadInputError(interactions_path, "no interaction with split == 'train'", key="split")
    hist = {int(u): g["item_id"].tolist()[-max_history:] for u, g in train.groupby("user_id", sort=True)}
    return items.reset_index(drop=True), users.reset_index(drop=True), hist


def _cats(c) -> list[str]:
    return [str(x) for x in (list(c) if c is not None else [])]


def user_prompt(domain: str, history: list[int], items: pd.DataFrame, max_words: int) -> str:
    lines = [f"- {items.at[i, 'name']} | {', '.join(_cats(items.at[i, 'categories']))}" for i in history]
    return USER_TEMPLATE.format(domain=domain, history="\n".join(lines), max_words=max_words)


def item_prompt(domain: str, row, max_words: int, max_description_chars: int) -> str:
    return ITEM_TEMPLATE.format(domain=domain, name=row["name"], categories=", ".join(_cats(row["categories"])),
                                description=str(row["description"] or "")[:max_description_chars], max_words=max_words)


# ---------------------------------------------------------------- offline templates
def offline_user_profile(history: list[int], items: pd.DataFrame) -> str:
    """Favourite categories (by count over the training history, ties by first appearance) and the
    first category of the three most recent items; deterministic. Category names, not item names:
    they are English on every dataset (KuaiRec's item names are Chinese captions)."""
    counts = Counter(c for i in history for c in _cats(items.at[i, "categories"])[:3])
    top = [c for c, _ in counts.most_common(3)]
    recent = [(_cats(items.at[i, "categories"]) or ["?"])[0] for i in history[-3:]][::-1]
    # most informative first: profiles are cut to xrec.max_profile_tokens
    return (f"Favourite categories: {', '.join(top)}. Most recent: {'; '.join(recent)}. "
            f"Has {len(history)} past interactions.")


def offline_item_profile(row, max_description_chars: int) -> str:
    """Categories, name, and the description when it adds anything (KuaiRec's is the category list).
    Categories first: profiles are cut to xrec.max_profile_tokens, and a KuaiRec name is a long caption."""
    cats = ", ".join(_cats(row["categories"]))
    desc = str(row["description"] or "").strip()
    extra = f" {desc[:max_description_chars]}" if desc and desc != cats else ""
    return f"Categories: {cats}. {row['name']}.{extra}"


# ---------------------------------------------------------------- the stage
def generate_profiles(items_path, users_path, interactions_path, out_path, gt_cfg: dict, prof_cfg: dict,
                      domain: str) -> dict:
    """Rule xrec_profiles -> profiles.parquet (kind, id, raw_id, text, backend, model, prompt_version);
    returns run statistics (requests, hits, misses, tokens, cost). A user without training
    interactions gets an empty profile and no request."""
    items, users, hist = read_entities(items_path, users_path, interactions_path, prof_cfg["max_history_items"])
    mw, mdc = prof_cfg["max_words"], prof_cfg["max_description_chars"]
    entities = [("user", int(u), str(r)) for u, r in zip(users["user_id"], users["raw_user_id"])] + \
               [("item", int(i), str(r)) for i, r in zip(items["item_id"], items["raw_item_id"])]
    texts: dict[tuple[str, int], str] = {}
    if gt_cfg["backend"] == "offline":
        log.warning("backend=offline: TEMPLATE profiles from item metadata and training histories, NOT Claude")
        for kind, i, _ in entities:
            if kind == "user":
                texts[(kind, i)] = offline_user_profile(hist[i], items) if i in hist else ""
            else:
                texts[(kind, i)] = offline_item_profile(items.iloc[i], mdc)
        backend, model, stats = "offline", OFFLINE_PROFILE_MODEL, {"requests": 0, "hits": 0, "misses": 0}
    else:
        be = make_backend(gt_cfg, [])
        backend, model = be.name, be.model
        reqs = []
        for kind, i, raw in entities:
            if kind == "user" and i not in hist:
                texts[(kind, i)] = ""
                continue
            user = user_prompt(domain, hist[i], items, mw) if kind == "user" else item_prompt(domain, items.iloc[i], mw, mdc)
            key = request_key(be.name, be.model, SYSTEM_PROMPT, user, gt_cfg["temperature"], prof_cfg["max_tokens"],
                              PROFILE_PROMPT_VERSION)
            # Request.category is the result key and the cache's label column: "user:<raw id>" / "item:<raw id>"
            reqs.append(Request(f"{kind}:{raw}", mw, SYSTEM_PROMPT, user, prof_cfg["max_tokens"], gt_cfg["temperature"], key))
        by_label = {f"{k}:{r}": (k, i) for k, i, r in entities}
        if len(by_label) != len(entities):
            raise BadInputError(users_path, "raw ids are not unique within users or items", key="raw_user_id")
        log.info("%d profile requests (%d users with a training history + %d items), backend=%s model=%s "
                 "prompt_version=%s", len(reqs), len(hist), len(items), be.name, be.model, PROFILE_PROMPT_VERSION)
        cfg = {**gt_cfg, **{k: prof_cfg[k] for k in ("max_requests", "max_cost_usd", "est_output_tokens")}}
        results, stats = run_cached(reqs, be, cfg, PROFILES)
        for label, summary in results.items():
            texts[by_label[label]] = summary
    rows = {k: [] for k in PROFILE_SCHEMA.names}
    for kind, i, raw in entities:
        for k, v in zip(PROFILE_SCHEMA.names, (kind, i, raw, texts[(kind, i)], backend, model, PROFILE_PROMPT_VERSION)):
            rows[k].append(v)
    write_parquet(pa.table(rows, schema=PROFILE_SCHEMA), out_path)
    stats = {"users": len(users), "items": len(items), "users_with_history": len(hist), "backend": backend,
             "model": model, **stats}
    log.info("wrote %s: %s", out_path, stats)
    return stats


def read_profiles(path, n_users: int, n_items: int) -> tuple[list[str], list[str], dict]:
    """-> (user texts by user_id, item texts by item_id, provenance {backend, model, prompt_version})."""
    df = stage_io.read_parquet(path, list(PROFILE_SCHEMA.names))
    out = {}
    for kind, n in (("user", n_users), ("item", n_items)):
        part = df[df["kind"] == kind].sort_values("id")
        if part["id"].tolist() != list(range(n)):
            raise BadInputError(path, f"{kind} profiles must cover ids 0..{n - 1} exactly once (found {len(part)} rows)",
                                key="id")
        out[kind] = part["text"].fillna("").tolist()
    prov = {c: ",".join(sorted(df[c].astype(str).unique())) for c in ("backend", "model", "prompt_version")}
    return out["user"], out["item"], prov
