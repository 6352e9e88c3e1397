"""Category sequences for the SEG prompt (paper Appendix A.1.2).

For each sample: take up to `max_per_item` categories of every item in its sequence (the history,
plus the target when `include_target`, because the SEG explains post hoc), keep each occurrence
with the word2vec sub-sampling probability keep(c) = min(1, sqrt(t / f(c))), where f(c) is c's
share of all category occurrences in the training interactions, then de-duplicate keeping the
first occurrence's order. (The paper prints 1 - sqrt(t/f) as the *discard* probability of
Mikolov et al.; we read it that way.) With t = 1e-5 most occurrences are dropped, so a sample
that keeps nothing falls back to its rarest category (the latest occurrence on ties): the text is
never empty. Draws come from one generator seeded by `seed`, over samples in file order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seller_core.data.io import write_parquet

CHUNK = 50_000  # samples per vectorised block: bounds memory at paper scale


def category_table(items: pa.Table, max_per_item: int) -> tuple[list[str], np.ndarray]:
    """Category vocabulary and an [n_items, max_per_item] matrix of category ids (-1 = none)."""
    vocab: dict[str, int] = {}
    cats = np.full((items.num_rows, max_per_item), -1, np.int64)
    for item_id, names in zip(items["item_id"].to_pylist(), items["categories"].to_pylist()):
        for j, name in enumerate(names[:max_per_item]):
            cats[item_id, j] = vocab.setdefault(name, len(vocab))
    return list(vocab), cats


def keep_probabilities(item_cats: np.ndarray, train_items: np.ndarray, n_categories: int, t: float) -> np.ndarray:
    occ = item_cats[train_items].ravel()
    counts = np.bincount(occ[occ >= 0], minlength=n_categories).astype(float)
    freq = counts / max(counts.sum(), 1.0)
    with np.errstate(divide="ignore"):
        keep = np.minimum(1.0, np.sqrt(t / freq))
    keep[counts == 0] = 1.0  # never seen in training: rarest possible
    return keep


def sample_categories(samples: pa.Table, items: pa.Table, train_items: np.ndarray, *, max_per_item: int,
                      t: float, include_target: bool, seed: int) -> pa.Table:
    vocab, item_cats = category_table(items, max_per_item)
    keep_p = keep_probabilities(item_cats, train_items, len(vocab), t)
    rng = np.random.default_rng(seed)
    out_lists: list[list[str]] = []
    for lo in range(0, samples.num_rows, CHUNK):
        block = samples.slice(lo, CHUNK)
        hist = block["history"].combine_chunks()
        lengths = pc.list_value_length(hist).to_numpy()
        flat = hist.flatten().to_numpy()
        if include_target:
            seq_len = lengths + 1
            offs = np.r_[0, np.cumsum(seq_len)]
            seq = np.empty(offs[-1], np.int64)
            target_pos = offs[1:] - 1
            mask = np.ones(offs[-1], bool)
            mask[target_pos] = False
            seq[mask] = flat
            seq[target_pos] = block["item_id"].to_numpy()
        else:
            seq_len, seq = lengths, flat
        cand = item_cats[seq].ravel()                                   # [sum(seq_len) * max_per_item]
        owner = np.repeat(np.arange(len(seq_len)), seq_len * max_per_item)
        valid = cand >= 0
        cand, owner = cand[valid], owner[valid]
        pos = np.arange(len(cand))
        kept = rng.random(len(cand)) < keep_p[cand]
        # fallback for samples that kept nothing: their rarest candidate, latest on ties
        any_kept = np.bincount(owner[kept], minlength=len(seq_len)) > 0
        order = np.lexsort((-pos, -keep_p[cand], owner))  # by owner, then rarest (highest keep), then latest
        first_of_owner = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
        fallback = first_of_owner[~any_kept[owner[first_of_owner]]]
        kept[fallback] = True
        cand, owner, pos = cand[kept], owner[kept], pos[kept]
        # de-duplicate per sample, keeping first occurrences in sequence order
        _, first = np.unique(owner * (len(vocab) + 1) + cand, return_index=True)
        first = np.sort(first)
        cand, owner = cand[first], owner[first]
        bounds = np.r_[0, np.cumsum(np.bincount(owner, minlength=len(seq_len)))]
        names = np.array(vocab, dtype=object)[cand]
        out_lists.extend(names[bounds[i]:bounds[i + 1]].tolist() for i in range(len(seq_len)))
    return pa.table({
        "sample_id": samples["sample_id"],
        "split": samples["split"],
        "categories": pa.array(out_lists, pa.list_(pa.string())),
        "text": pa.array([", ".join(c) for c in out_lists], pa.string()),
    })


def category_sequences(sample_paths, items_path, interactions_path, out_path, *, max_per_item: int, downsample_t: float,
                       include_target: bool, seed: int) -> dict:
    items = pq.read_table(items_path)
    inter = pq.read_table(interactions_path, columns=["item_id", "split"])
    train_items = inter.filter(pc.equal(inter["split"], "train"))["item_id"].to_numpy()
    samples = pa.concat_tables([pq.read_table(p, columns=["sample_id", "item_id", "history", "split"]) for p in sample_paths])
    table = sample_categories(samples, items, train_items, max_per_item=max_per_item, t=downsample_t,
                              include_target=include_target, seed=seed)
    write_parquet(table, out_path)
    lengths = pc.list_value_length(table["categories"]).to_numpy()
    return {"samples": table.num_rows, "mean_categories": float(lengths.mean()), "min_categories": int(lengths.min())}
