"""Training and greedy generation for the PETER baseline (seller_core/models/peter.py).

Data: DataFrames with columns user_id, item_id (dense ids) and text (the sample's GT explanation).
The word vocabulary is built from the TRAINING texts only (the `max_vocab` most frequent words,
ties by word); explanations are cut to `max_words` words as in PETER (`--words 15`).

Optimisation follows the original: SGD lr 1.0, gradient clipping 1.0, and on every epoch whose
validation loss (text NLL per token: there is no rating loss) does not beat the best so far, the
learning rate is multiplied by `lr_decay` (0.25); training stops after `endure` such epochs. As
in the original the count of bad epochs is cumulative (never reset by a later improvement). The
best epoch's weights are kept.

Each epoch ends with a checkpoint (weights, optimizer, learning rate, RNG streams, best weights,
history) at `ckpt_path`, fingerprinted by config and data: a rerun resumes there and ends with the
weights an uninterrupted run would have.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from seller_core.data import stage_io
from seller_core.data.io import write_json
from seller_core.explain.interface import write_explanations
from seller_core.models.peter import PETER, PETERConfig, greedy_decode, n_params, peter_loss
from seller_core.train import loop
from seller_core.runtime import cost_record, load_model, resolve_device, save_model
from seller_core.train.baseline_io import n_users_of

log = logging.getLogger(__name__)

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)  # ids 0..3
MODEL_KEYS = ("emsize", "n_heads", "nhid", "n_layers", "dropout", "max_words")
_WORD = re.compile(r"[a-z0-9]+(?:['’-][a-z0-9]+)*|[^\sa-z0-9]", re.IGNORECASE)


# --- words ---------------------------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    """Lower-cased words (inner apostrophes and hyphens kept) and single punctuation marks."""
    return _WORD.findall(text.lower())


def build_vocab(texts, max_vocab: int) -> list[str]:
    """id -> word: the specials, then the most frequent training words (ties broken by the word, so
    the vocabulary does not depend on row order)."""
    if max_vocab <= len(SPECIALS):
        raise ValueError(f"peter.max_vocab must exceed the {len(SPECIALS)} special tokens, got {max_vocab}")
    counts = Counter(w for t in texts for w in tokenize(t))
    words = sorted(counts, key=lambda w: (-counts[w], w))[: max_vocab - len(SPECIALS)]
    return list(SPECIALS) + words


def encode(texts, vocab: list[str], max_words: int) -> np.ndarray:
    """-> (N, max_words + 2) ids: [<bos>, w1..wn, <eos>, <pad>..], n <= max_words."""
    index = {w: i for i, w in enumerate(vocab)}
    unk, out = index[UNK], np.full((len(texts), max_words + 2), index[PAD], dtype=np.int64)
    for r, t in enumerate(texts):
        ids = [index.get(w, unk) for w in tokenize(t)[:max_words]]
        out[r, : len(ids) + 2] = [index[BOS], *ids, index[EOS]]
    return out


def decode(ids, vocab: list[str]) -> str:
    """Generated ids -> text, cut at <eos>; punctuation re-attached to the previous word."""
    words = []
    for i in ids:
        w = vocab[int(i)]
        if w in (EOS, PAD):
            break
        words.append(w)
    return re.sub(r" ([.,!?;:%)])", r"\1", " ".join(words))


# --- data checks ---------------------------------------------------------------------------------


def _check(df: pd.DataFrame, name: str, need_text: bool = True) -> None:
    cols = ["user_id", "item_id"] + (["text"] if need_text else [])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"PETER {name} data lack columns {missing} (have {list(df.columns)})")
    if len(df) == 0:
        raise ValueError(f"PETER {name} data are empty")
    if need_text and df["text"].isna().any():
        raise ValueError(f"PETER {name} data: null text in {int(df['text'].isna().sum())} rows")


def _tensors(df: pd.DataFrame, vocab, max_words):
    user = torch.tensor(df["user_id"].to_numpy(np.int64))  # a copy: pandas may hand out read-only arrays
    item = torch.tensor(df["item_id"].to_numpy(np.int64))
    return user, item, torch.from_numpy(encode(df["text"].tolist(), vocab, max_words))


# --- training ------------------------------------------------------------------------------------


def evaluate(model: PETER, user, item, seq, batch_size: int) -> tuple[float, float]:
    """Mean text and context NLL per (non-pad) target token."""
    model.eval()
    t_sum = c_sum = 0.0
    t_n = c_n = 0
    with torch.no_grad():
        for s in range(0, len(user), batch_size):
            sl = slice(s, s + batch_size)
            _, t, c = peter_loss(model, user[sl], item[sl], seq[sl])
            nt = int((seq[sl, 1:] != model.cfg.pad_idx).sum())
            nc = int((seq[sl, 1:-1] != model.cfg.pad_idx).sum())
            t_sum, t_n, c_sum, c_n = t_sum + t.item() * nt, t_n + nt, c_sum + c.item() * nc, c_n + nc
    return t_sum / max(t_n, 1), c_sum / max(c_n, 1)


def train_peter(train_df: pd.DataFrame, valid_df: pd.DataFrame, cfg: dict, *, n_users: int | None = None,
                n_items: int | None = None, ckpt_path=None, fp: str = "", stop_after: int | None = None,
                device: str = "cpu"):
    """cfg: the `peter` config section. Returns (model, vocab, history, stats).

    n_users / n_items size the id embeddings (default: the largest id seen + 1); pass the dataset's
    counts so that any test id has a row. stats: train_tokens (target tokens processed), epochs.
    On CUDA, dropout draws from the CUDA generator, which the checkpoint does not hold: a resumed
    GPU run is a valid run but not bit-identical to an uninterrupted one (on CPU it is)."""
    _check(train_df, "train")
    _check(valid_df, "valid")
    n_users = n_users or int(max(train_df["user_id"].max(), valid_df["user_id"].max())) + 1
    n_items = n_items or int(max(train_df["item_id"].max(), valid_df["item_id"].max())) + 1
    rng = loop.RNG(cfg["seed"])  # seeds torch before the weights are initialised
    vocab = build_vocab(train_df["text"].tolist(), cfg["max_vocab"])
    model = PETER(PETERConfig(n_users=n_users, n_items=n_items, n_tokens=len(vocab), **{k: cfg[k] for k in MODEL_KEYS}))
    tr, va = _tensors(train_df, vocab, cfg["max_words"]), _tensors(valid_df, vocab, cfg["max_words"])
    for name, (u, i, _) in (("train", tr), ("valid", va)):
        if int(u.max()) >= n_users or int(i.max()) >= n_items or int(u.min()) < 0 or int(i.min()) < 0:
            raise ValueError(f"PETER {name} data: user/item ids outside [0, {n_users}) x [0, {n_items})")
    model.to(device)
    tr, va = tuple(t.to(device) for t in tr), tuple(t.to(device) for t in va)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
    n_batches = -(-len(train_df) // cfg["batch_size"])
    tokens_per_epoch = int((tr[2][:, 1:] != 0).sum())
    log.info("PETER: %d params, vocab %d, %d train / %d valid samples, %d batches/epoch",
             n_params(model), len(vocab), len(train_df), len(valid_df), n_batches)

    user, item, seq = tr

    def batches(epoch: int) -> list:
        order = torch.from_numpy(rng.np_gen.permutation(len(train_df))).to(device)
        bs = cfg["batch_size"]
        return [order[b * bs:(b + 1) * bs] for b in range(n_batches)]

    def step(idx) -> tuple[float, int]:
        loss, t_loss, _ = peter_loss(model, user[idx], item[idx], seq[idx], cfg["context_reg"], cfg["text_reg"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        optimizer.step()
        return t_loss.item() * len(idx), len(idx)  # the epoch's loss: mean text loss per sample

    def validate():
        val_t, val_c = evaluate(model, *va, cfg["batch_size"])
        return -val_t, {"valid_text_loss": val_t, "valid_context_loss": val_c}

    def decay(epoch: int, improved: bool) -> None:
        if not improved:  # PETER's StepLR(gamma), stepped only on a bad epoch
            for g in optimizer.param_groups:
                g["lr"] *= cfg["lr_decay"]

    # the best weights on validation text loss; `endure` epochs without a new best in all end it
    _, history = loop.fit(model, optimizer, validate, rng, max_epochs=cfg["max_epochs"], patience=cfg["endure"],
                          ckpt_path=ckpt_path, fp=fp, stop_after=stop_after, batches=batches, step=step,
                          checkpoint=cfg.get("checkpoint"), patience_mode="total", validate_first=False,
                          after_epoch=decay, name="PETER", log_every=cfg["log_every"])
    model.eval()
    # PETER's own names: the epoch loss is the mean train text loss per sample
    history = [{"epoch": h["epoch"], "train_text_loss": h["loss"], "valid_text_loss": h["valid_text_loss"],
                "valid_context_loss": h["valid_context_loss"], "lr": h["lr"], "seconds": h["seconds"]} for h in history]
    epochs = history[-1]["epoch"] if history else 0
    best_epoch = min(history, key=lambda h: h["valid_text_loss"])["epoch"] if history else 0
    stats = {"epochs": epochs, "best_epoch": best_epoch, "train_tokens": tokens_per_epoch * epochs}
    return model, vocab, history, stats


# --- generation ----------------------------------------------------------------------------------


def generate_peter(model: PETER, vocab: list[str], test_df: pd.DataFrame, batch_size: int = 256) -> list[str]:
    """Greedy explanation for every row of test_df (user_id, item_id), in row order."""
    _check(test_df, "test", need_text=False)
    device = next(model.parameters()).device
    user = torch.tensor(test_df["user_id"].to_numpy(np.int64), device=device)
    item = torch.tensor(test_df["item_id"].to_numpy(np.int64), device=device)
    if int(user.max()) >= model.cfg.n_users or int(item.max()) >= model.cfg.n_items:
        raise ValueError(f"PETER test data: ids beyond the trained tables ({model.cfg.n_users} users, {model.cfg.n_items} items)")
    out = []
    for s in range(0, len(user), batch_size):
        ids = greedy_decode(model, user[s : s + batch_size], item[s : s + batch_size], SPECIALS.index(BOS), SPECIALS.index(EOS))
        out.extend(decode(row, vocab) for row in ids.tolist())
    return out


def save_peter(model: PETER, vocab: list[str], history: list[dict], path, cfg: dict) -> None:
    save_model(model, path, vocab=vocab, history=history, train_config=cfg)


def load_peter(path, device: str = "cpu") -> tuple[PETER, list[str], dict]:
    """-> (model in eval mode on `device`, vocabulary, the training config it was saved with)."""
    model, ck = load_model(path, lambda c: PETER(PETERConfig(**c)), "PETER", device)
    return model, ck["vocab"], ck["train_config"]


class PETERExplainer:
    """A trained PETER loaded once, explaining any rows (user_id, item_id): `python -m seller_core explain
    --method peter`."""

    def __init__(self, model_path, device: str = "cpu", batch_size: int = 256):
        self.device = resolve_device(device, "peter.device")
        self.model, self.vocab, self.train_cfg = load_peter(model_path, self.device)
        self.batch_size = batch_size

    def explain(self, df) -> list[str]:
        return generate_peter(self.model, self.vocab, df, self.batch_size)


# --- rules ---------------------------------------------------------------------------------------


def _samples_with_text(samples_path, gt_path, n_users: int, n_items: int, kind: str | None) -> pd.DataFrame:
    df = stage_io.read_parquet(samples_path, ["sample_id", "user_id", "item_id"])
    stage_io.check_ids(df, "user_id", n_users, samples_path)
    stage_io.check_ids(df, "item_id", n_items, samples_path)
    if kind is not None:
        df["text"] = stage_io.gt_texts(gt_path, df, kind)
    return df


def train_peter_rule(inp: dict, out: dict, ckpt, cfg: dict, kind: str, threads: int = 1, run: dict | None = None) -> None:
    """Rule train_peter. inp: train, valid, gt, users, item_table (paths); out: model, history, cost.
    cfg: the `peter` settings that change the model; run: its run-control settings (log_every,
    device, gen_batch_size: methods/peter.py's run_keys), kept out of the fingerprint and the saved
    config; kind: the GT text it learns."""
    t_all = time.perf_counter()
    torch.set_num_threads(threads)
    n_users, n_items = n_users_of(inp["users"]), stage_io.n_items_of(inp["item_table"])
    train = _samples_with_text(inp["train"], inp["gt"], n_users, n_items, kind)
    valid = _samples_with_text(inp["valid"], inp["gt"], n_users, n_items, kind)
    tracked, cfg = cfg, {**cfg, **(run or {})}
    device = resolve_device(cfg["device"], "peter.device")
    fp = loop.fingerprint(tracked, kind, *(Path(inp[k]) for k in ("train", "valid", "gt")), n_users, n_items)
    t0 = time.perf_counter()
    model, vocab, history, stats = train_peter(train, valid, cfg, n_users=n_users, n_items=n_items, ckpt_path=ckpt,
                                               fp=fp, device=device)
    train_s = time.perf_counter() - t0
    save_peter(model, vocab, history, out["model"], {**tracked, "text_kind": kind})
    write_json({"peter": tracked, "text_kind": kind, "n_train": len(train), "n_valid": len(valid), "vocab": len(vocab),
                "params": n_params(model), "history": history}, out["history"])
    cost = cost_record("train_peter", device, t_all, ("tokens", "train_seconds", "tokens_per_second"),
                       train_seconds=round(train_s, 2), tokens=stats["train_tokens"], epochs=stats["epochs"],
                       best_epoch=stats["best_epoch"], samples=len(train))
    write_json(cost, out["cost"])
    Path(ckpt).unlink(missing_ok=True)
    log.info("PETER trained: %s", cost)


def explain_peter_rule(inp: dict, out: dict, method: str, data_source: str, batch_size: int = 256, threads: int = 1,
                       device: str = "cpu") -> None:
    """Rule explain_peter. inp: model, test, gt (paths); out: explanations, cost."""
    t_all = time.perf_counter()
    torch.set_num_threads(threads)
    device = resolve_device(device, "peter.device")
    model, vocab, train_cfg = load_peter(inp["model"], device)
    test = _samples_with_text(inp["test"], None, model.cfg.n_users, model.cfg.n_items, None)
    t0 = time.perf_counter()
    texts = generate_peter(model, vocab, test, batch_size)
    gen_s = time.perf_counter() - t0
    gt = stage_io.read_parquet(inp["gt"], ["model"]).drop_duplicates()
    provenance = {
        "method": method, "seed": train_cfg["seed"], "gt_kind": train_cfg["text_kind"],
        "gt_backend": stage_io.gt_backend_of(inp["gt"]), "data_source": data_source,
        "models": {"peter": str(inp["model"]), "gt": ",".join(sorted(gt["model"].astype(str).unique()))},
        "decoding": "greedy", "max_words": model.cfg.max_words,
    }
    write_explanations(out["explanations"], test, texts, provenance)
    new_tokens = sum(len(tokenize(t)) + 1 for t in texts)  # words + <eos> (or the cut at max_words)
    cost = cost_record("explain_peter", device, t_all, ("new_tokens", "generate_seconds", "new_tokens_per_second"),
                       generate_seconds=round(gen_s, 2), prompts=len(test), new_tokens=new_tokens)
    write_json(cost, out["cost"])
    log.info("%d PETER explanations (%d empty) -> %s; %s", len(texts), sum(not t for t in texts), out["explanations"], cost)
