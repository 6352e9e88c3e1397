import numpy as np
import pyarrow as pa

from seller_core.data.categories import keep_probabilities, sample_categories


def _items(cats):
    return pa.table({"item_id": list(range(len(cats))), "categories": cats})


def test_keep_probability_is_word2vec_subsampling():
    item_cats = np.array([[0, 1], [0, -1], [0, 2]])
    keep = keep_probabilities(item_cats, np.array([0, 1, 2, 2]), 4, t=0.01)
    # occurrences: c0 x4, c1 x1, c2 x2 of 7; c3 never seen in training
    assert np.allclose(keep[:3], np.minimum(1, np.sqrt(0.01 / (np.array([4, 1, 2]) / 7))))
    assert keep[3] == 1.0


def _samples(histories, targets):
    return pa.table({"sample_id": list(range(len(targets))), "split": ["train"] * len(targets),
                     "item_id": targets, "history": pa.array(histories, pa.list_(pa.int64()))})


def test_never_empty_deduped_ordered_and_seeded():
    items = _items([["Food", "Bars", "Pubs", "Extra"], ["Food"], ["Tea"], ["Food", "Tea"]])
    samples = _samples([[1, 1, 1], [0, 2, 3], [3]], [1, 0, 2])
    kw = dict(max_per_item=3, t=1e-9, include_target=False)
    train = np.array([0, 1, 1, 1, 1, 2, 3])
    a = sample_categories(samples, items, train, seed=0, **kw).to_pylist()
    # t tiny: nothing survives sub-sampling, so each sample falls back to its rarest category
    assert [r["categories"] for r in a] == [["Food"], ["Pubs"], ["Tea"]]
    assert a[1]["text"] == "Pubs"
    kw["t"] = 1.0  # keep everything: de-duplicated, in sequence order, at most 3 per item
    b = sample_categories(samples, items, train, seed=0, **kw).to_pylist()
    assert [r["categories"] for r in b] == [["Food"], ["Food", "Bars", "Pubs", "Tea"], ["Food", "Tea"]]
    assert b[1]["text"] == "Food, Bars, Pubs, Tea"


def test_include_target_and_determinism():
    rng = np.random.default_rng(0)
    items = _items([[f"c{i % 13}", f"c{(i * 7) % 13}"] for i in range(50)])
    hist = [rng.choice(50, 10).tolist() for _ in range(300)]
    samples = _samples(hist, rng.choice(50, 300).tolist())
    train = rng.choice(50, 2000)
    kw = dict(max_per_item=3, t=0.02, train_items=train)
    with_t = sample_categories(samples, items, include_target=True, seed=3, **kw)
    assert with_t.equals(sample_categories(samples, items, include_target=True, seed=3, **kw))
    assert not with_t.equals(sample_categories(samples, items, include_target=True, seed=4, **kw))
    one = _samples([[0]], [1])
    only_target = sample_categories(one, _items([["A"], ["B"]]), np.array([0, 1]), max_per_item=3, t=1.0,
                                    include_target=True, seed=0)
    assert only_target["categories"].to_pylist() == [["A", "B"]]
    assert all(len(c) >= 1 for c in with_t["categories"].to_pylist())
