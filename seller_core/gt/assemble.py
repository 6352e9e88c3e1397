"""Per-sample ground truth: the target item's categories -> one explicit and one implicit query each.

Joining rule (what the recommender and SEG consume):
- `categories`: the target item's first `max_categories` distinct categories, in item order;
- per chosen category, one explicit and one implicit query, each drawn uniformly with an rng
  seeded by (seed, sample_id), so a sample's text does not depend on which other samples exist;
- `category_text` = the explicit queries joined with `joiner` (default "; "), in category order;
- `intent_text`   = the implicit queries joined the same way;
- `both_text`     = per category the explicit then the implicit query, all joined with `joiner`.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seller_core.data.io import write_parquet
from seller_core.errors import BadInputError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")

SCHEMA = pa.schema([
    ("sample_id", pa.int64()), ("split", pa.string()), ("user_id", pa.int64()), ("item_id", pa.int64()),
    ("categories", pa.list_(pa.string())),
    ("category_text", pa.string()), ("intent_text", pa.string()), ("both_text", pa.string()),
    ("backend", pa.string()), ("model", pa.string()), ("prompt_version", pa.string()),
])


def _read(path, columns):
    try:
        return pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowInvalid, KeyError) as e:
        raise BadInputError(path, f"cannot read columns {columns}: {e}") from e


def load_queries(path) -> tuple[dict, dict, tuple[str, str, str]]:
    """{category: [explicit...]}, {category: [implicit...]}, and the single (backend, model, prompt_version)."""
    t = _read(path, ["category", "kind", "query", "model", "prompt_version", "backend"]).to_pydict()
    exp, imp = {}, {}
    for c, k, q in zip(t["category"], t["kind"], t["query"]):
        {"explicit": exp, "implicit": imp}[k].setdefault(c, []).append(q)
    labels = set(zip(t["backend"], t["model"], t["prompt_version"]))
    if len(labels) != 1:
        raise BadInputError(path, f"expected one (backend, model, prompt_version), found {sorted(labels)}")
    return exp, imp, labels.pop()


def assemble_explanations(items_path, sample_paths, queries_path, out_path, *, seed: int,
                          max_categories: int, joiner: str) -> dict:
    exp, imp, (backend, model, version) = load_queries(queries_path)
    items = _read(items_path, ["item_id", "categories"]).to_pydict()
    item_cats = {}
    for i, cats in zip(items["item_id"], items["categories"]):
        # dedupe, keep item order (categories are ordered by relevance in both sources)
        item_cats[i] = list(dict.fromkeys(cats or []))[:max_categories]

    cols = {name: [] for name in SCHEMA.names}
    for path in sample_paths:
        s = _read(path, ["sample_id", "user_id", "item_id", "split"]).to_pydict()
        for sid, uid, iid, split in zip(s["sample_id"], s["user_id"], s["item_id"], s["split"]):
            cats = item_cats.get(iid)
            if cats is None:
                raise BadInputError(path, f"sample {sid}: target item {iid} is not in {items_path}")
            if not cats:
                raise BadInputError(items_path, f"item {iid} (target of sample {sid}) has no category, so it has "
                                                "no ground-truth explanation")
            rng = np.random.default_rng([seed, sid])
            e_q, i_q = [], []
            for c in cats:
                if c not in exp or c not in imp:
                    raise BadInputError(queries_path, f"no queries for category {c!r} (item {iid}); "
                                                      "category_queries.parquet is stale")
                e_q.append(exp[c][rng.integers(len(exp[c]))])
                i_q.append(imp[c][rng.integers(len(imp[c]))])
            for k, v in (("sample_id", sid), ("split", split), ("user_id", uid), ("item_id", iid),
                         ("categories", cats), ("category_text", joiner.join(e_q)),
                         ("intent_text", joiner.join(i_q)),
                         ("both_text", joiner.join(q for pair in zip(e_q, i_q) for q in pair)),
                         ("backend", backend), ("model", model), ("prompt_version", version)):
                cols[k].append(v)
    table = pa.table(cols, schema=SCHEMA)
    table = table.sort_by("sample_id")
    ids = table["sample_id"].to_numpy()
    if len(ids) and (np.diff(ids) == 0).any():
        raise BadInputError(sample_paths[0], "sample_id is not unique across the splits")
    write_parquet(table, out_path)
    stats = {"samples": table.num_rows, "backend": backend, "model": model, "prompt_version": version}
    for sp in SPLITS:
        stats[sp] = int(pa.compute.sum(pa.compute.equal(table["split"], sp)).as_py() or 0)
    log.info("wrote %s: %s", out_path, stats)
    return stats
