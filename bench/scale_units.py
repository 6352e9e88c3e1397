"""Bounded measurements of the sentence-encoder stages, for scales where running them whole does not
fit on this CPU (bench/scale.py calls this in a fresh process per measurement, so that each peak RSS
is its own).

A whole rule at 1/4 or full paper scale takes hours here: embed_items encodes every item description
and train_eer every training and validation explanation, one thread each, before its first epoch.
So each measurement runs the project's own functions on a seeded random sample of the scale's real
data and extrapolates linearly in what the rule's work grows with:

    embed   embed_items: load the encoder (measured), encode n sampled item descriptions
            -> seconds = load + per-description time x distinct descriptions of the dataset
    eer     train_eer, one epoch: load the encoder, encode n sampled distinct explanations
            (-> x distinct train + valid explanations), train `batches` batches of the real EER
            (eer_train.train_eer) on a SASRec of the right shape (-> x training samples), rank n
            validation cases (-> x validation cases)

Peak RSS is measured on the sample; `peak_rss_mb_est` adds the arrays that grow with the data (the
(S, dim) explanation matrix, the (S, max_len) history tensor), which is what the profile's mem_mb uses.

`standins` writes, for the rule-level SEG-step and generation measurements of bench/scale.py, the
two inputs that would otherwise take hours: an untrained SASRec of the configured shape and an
item-embedding matrix of the right shape whose rows are the n measured embeddings repeated. An SEG
step and a generation batch cost the same whatever these values are (generation runs to the token
cap either way after one training step).

    python bench/scale_units.py embed --workdir W --dataset yelp_1_4 --n 512
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


def merged_config(workdir: Path) -> dict:
    """config/config.yaml with the scale's overrides on top (what Snakemake runs with there)."""
    def merge(base: dict, over: dict) -> dict:
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
        return out

    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return merge(base, yaml.safe_load((workdir / "config.yaml").read_text()))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def untrained_sasrec(cfg: dict, n_items: int):
    """A SASRec of the configured shape; its cost per batch does not depend on its weights."""
    import torch

    from seller_core.models.sasrec import SASRec, SASRecConfig

    s = cfg["sasrec"]
    torch.manual_seed(0)
    return SASRec(SASRecConfig(n_items=n_items, max_len=s["max_len"], d=s["d"], n_layers=s["n_layers"],
                               n_heads=s["n_heads"], d_ff=s["d_ff"], dropout=s["dropout"]))


def sample(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n_total, size=min(n, n_total), replace=False))


def embed_unit(workdir: Path, ds: str, n: int) -> dict:
    import torch

    from seller_core.data import stage_io
    from seller_core.text import embed

    cfg = merged_config(workdir)
    torch.set_num_threads(1)  # as the rule (threads: 1)
    items = stage_io.read_parquet(workdir / f"results/data/{ds}/items.parquet", ["item_id", "description"])
    texts = items["description"].astype(str).to_numpy()
    distinct = int(len(np.unique(texts)))
    t0 = time.perf_counter()
    encoder = embed.load_encoder(cfg["embed"]["model"], "cpu")
    load_s = time.perf_counter() - t0
    picked = np.unique(texts)[sample(distinct, n)].tolist()
    t0 = time.perf_counter()
    emb = embed.embed_texts(encoder, picked, cfg["embed"]["batch_size"])
    enc_s = time.perf_counter() - t0
    np.save(workdir / f"results/data/{ds}/.bench_item_sample_emb.npy", emb)
    per = enc_s / len(picked)
    full_mb = len(items) * emb.shape[1] * 4 / 2**20
    return {"stage": "embeddings", "rule": "embed_items", "seconds": round(load_s + per * distinct, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1), "peak_rss_mb_est": round(peak_rss_mb() + full_mb, 1),
            "note": f"extrapolated: load {load_s:.1f} s + {per * 1000:.1f} ms x {distinct} distinct descriptions "
                    f"(measured on {len(picked)})"}


def eer_unit(workdir: Path, ds: str, n: int, batches: int) -> dict:
    import torch

    from seller_core.data import stage_io
    from seller_core.eval import ranking
    from seller_core.text import embed
    from seller_core.train.eer_train import train_eer

    cfg = merged_config(workdir)
    eer_cfg = {**cfg["eer"], "max_epochs": 1, "patience": 1}
    kind = cfg["eer"]["utility_kind"]
    torch.set_num_threads(1)  # as the rule (threads: 1)
    torch.manual_seed(0)
    data = workdir / f"results/data/{ds}"
    n_items = stage_io.n_items_of(data / "items.parquet")
    train = stage_io.read_samples(data / "samples_train.parquet", n_items)
    valid = stage_io.read_samples(data / "samples_valid.parquet", n_items)
    gt = data / "gt" / "explanations.parquet"
    t_train, t_valid = stage_io.gt_texts(gt, train, kind), stage_io.gt_texts(gt, valid, kind)
    distinct_train, distinct_valid = len(set(t_train)), len(set(t_valid))

    t0 = time.perf_counter()
    encoder = embed.load_encoder(cfg["embed"]["model"], "cpu")
    load_s = time.perf_counter() - t0
    pool = np.unique(np.asarray(t_train, dtype=object))
    picked = pool[sample(len(pool), n)].tolist()
    t0 = time.perf_counter()
    e = embed.embed_texts(encoder, picked, cfg["embed"]["batch_size"])
    per_text = (time.perf_counter() - t0) / len(picked)
    del encoder

    # training: `batches` full batches of seeded random samples; an explanation vector per sample
    # (the sampled embeddings, cycled: the cost does not depend on which vector a sample gets)
    b = int(eer_cfg["batch_size"]) * batches
    tr = train.iloc[sample(len(train), b, seed=1)].reset_index(drop=True)
    va = valid.iloc[sample(len(valid), n, seed=2)].reset_index(drop=True)
    e_tr, e_va = np.resize(e, (len(tr), e.shape[1])), np.resize(e, (len(va), e.shape[1]))
    t0 = time.perf_counter()
    eer, _ = train_eer(untrained_sasrec(cfg, n_items), tr, e_tr, va, e_va, eer_cfg, cfg["eval"])  # epoch 0 validation, 1 epoch, validation
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ranking.model_ranks(eer, va, n_items, cfg["eval"], cond=e_va)
    val_s = time.perf_counter() - t0
    train_s = max(fit_s - 2 * val_s, 0.0)
    embed_s = per_text * (distinct_train + distinct_valid)
    epoch_s = train_s / len(tr) * len(train)
    valid_s = val_s / len(va) * len(valid)
    seconds = load_s + embed_s + epoch_s + 2 * valid_s
    grow_mb = ((len(train) + len(valid)) * e.shape[1] * 4 + len(train) * cfg["sasrec"]["max_len"] * 8) / 2**20
    return {"stage": "eer_epoch", "rule": "train_eer", "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1), "peak_rss_mb_est": round(peak_rss_mb() + grow_mb, 1),
            "note": f"extrapolated: load {load_s:.1f} s + encode {distinct_train + distinct_valid} distinct "
                    f"explanations {embed_s:.0f} s ({per_text * 1000:.1f} ms each, {len(picked)} measured) + "
                    f"epoch {epoch_s:.0f} s ({len(train)} samples, {len(tr)} measured) + 2 validations "
                    f"{2 * valid_s:.0f} s ({len(valid)} cases, {len(va)} measured)"}


def write_standins(workdir: Path, ds: str) -> dict:
    from seller_core.data import stage_io
    from seller_core.data.io import write_json
    from seller_core.train.sasrec_train import save_sasrec

    cfg = merged_config(workdir)
    data = workdir / f"results/data/{ds}"
    n_items = stage_io.n_items_of(data / "items.parquet")
    written = []
    if not (data / "item_text_emb.npy").exists():
        e = np.load(data / ".bench_item_sample_emb.npy")
        np.save(data / "item_text_emb.npy", np.resize(e, (n_items, e.shape[1])).astype(np.float32))
        write_json({"model": cfg["embed"]["model"], "dim": int(e.shape[1]), "n_items": n_items, "dtype": "float32",
                    "standin": "bench/scale_units.py: sampled embeddings repeated"}, data / "item_text_emb.json")
        written.append("item_text_emb.npy")
    model_dir = workdir / f"results/models/{ds}/sasrec"
    if not (model_dir / "model.pt").exists():  # a SASRec trained by the rule (not --skip-sasrec) is kept
        save_sasrec(untrained_sasrec(cfg, n_items), [], model_dir / "model.pt", model_dir / "history.json", {"standin": "untrained"})
        written.append("sasrec/model.pt")
    return {"standins": written}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["embed", "eer", "standins"])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--n", type=int, default=512, help="descriptions / explanations / validation cases measured")
    ap.add_argument("--batches", type=int, default=16, help="EER training batches measured")
    args = ap.parse_args()
    if args.what == "embed":
        out = embed_unit(args.workdir, args.dataset, args.n)
    elif args.what == "eer":
        out = eer_unit(args.workdir, args.dataset, args.n, args.batches)
    else:
        out = write_standins(args.workdir, args.dataset)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
