"""SEG learning curves: train SEG through `train_seg` and probe it on validation samples every K steps.

    .venv/bin/python bench/seg_learning.py --dataset tiny_yelp --steps 240 --every 60 \\
        --set max_train_samples=4000 --out bench/out/seg_learning/tiny_yelp_default
    .venv/bin/python bench/seg_learning.py --set lr=3e-3 --set lr_decay=cosine --set warmup_steps=20 ...

Needs the pipeline's outputs under --results (run `make run` or snakemake first): the dataset's
samples_train/valid, category texts, GT explanations, items, item-text embeddings, the SASRec and
(unless --no-eer) the EER of kind eer.utility_kind (results/models/{ds}/eer/{kind}/model.pt).

The SEG settings are the config's `seg` section resolved as rules/common.smk's seg_params does for
variant `full` (schema defaults filled in, `variants` and `generate` left out, seed = the first of
the top-level `seeds`), then `--set key=value` overrides (yaml-parsed; `generate.batch_size=64`
reaches a nested key). The config's max_train_samples is the training pool; --steps sets
max_steps (default: the config's number of steps) and, where the pool is too small for that many
steps in the configured epochs, raises the epochs (the samples are then reused; said at the start).

At step 0, every --every steps and after the last one, seller_core.eval.probe.Probe measures on
--probe-n seeded VALIDATION samples (never test): the teacher-forced LM loss of the GT text with
each sample's own soft vectors, another sample's and zero vectors; greedy generations (the config's
seg.generate settings) and their category hit rate, category-name precision, distinct and empty
shares; and the EER's NDCG@10 / Recall@10 given them, beside an empty explanation's. The probe
leaves the trained weights as they would be without it (train_adapter forks the RNG around it).

Writes <out>.csv (one row per checkpoint, the settings repeated in every row), <out>.png (losses,
gap to the rolled control, hit rate / distinct share, EER NDCG@10 against the empty reference) and
<out>.texts.json (every probe text per checkpoint). Both are rewritten after every probe, so an
interrupted run keeps its curve so far. Prints one progress line per probe.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from seller_core.data import stage_io
from seller_core.eval.probe import Probe, probe_subset
from seller_core.llm.backbone import load_backbone
from seller_core.runtime import resolve_device
from seller_core.llm.inject import Injector
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import shared_prefix
from seller_core.models.sasrec import load_sasrec
from seller_core.models.seg import SequenceFeatures
from seller_core.data.stage_io import subsample
from seller_core.methods.seller.train import prompt_builder, read_seg_samples, train_seg

REPO = Path(__file__).resolve().parent.parent
# probe columns first, in the order a reader compares them; then timing; then the settings
PROBE_COLUMNS = ["step", "n", "loss_own", "loss_rolled", "loss_zero", "gap_rolled", "gap_zero", "hit_rate",
                 "name_precision", "named_share", "distinct", "empty", "eer_ndcg10", "eer_recall10",
                 "eer_ndcg10_empty", "eer_recall10_empty", "vector_norm", "vector_spread", "new_tokens",
                 "seconds", "loss_seconds", "generate_seconds", "eer_seconds", "train_seconds", "examples"]
SETTING_KEYS = ["lr", "batch_size", "max_train_samples", "max_steps", "epochs", "warmup_steps", "lr_decay",
                "min_lr_ratio", "pool", "kind", "max_target_tokens", "seed", "inject_at", "qkv_gate", "slot_scale",
                "category_text", "init_std", "stage1_steps", "stage1_lr"]


def parse_value(text: str):
    v = yaml.safe_load(text)
    if isinstance(v, str):  # PyYAML reads 3e-3 (no dot) as a string
        try:
            return float(v)
        except ValueError:
            pass
    return v


def parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: expected key=value")
        out[key.strip()] = parse_value(value)
    return out


def resolve_seg(config_path, overrides: dict) -> tuple[dict, dict, dict]:
    """(seg cfg of variant full, generation cfg, the whole validated config): seller_core.config's
    resolution (rules/common.smk's seg_params), with the overrides applied and type-checked."""
    from seller_core.config import load_config, validate_config
    from seller_core.methods.seller import seg_section

    config = load_config(config_path)
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        target = config["seg"]
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    validate_config(config, f"{config_path} with overrides {overrides}")  # checked like the config itself
    return seg_section(config, "full"), dict(config["seg"]["generate"]), config


def eer_scoring(config: dict, results: Path, ds: str):
    """(EER, embed_fn) for Probe's EER scoring: the EER of kind eer.utility_kind
    (results/models/{ds}/eer/{kind}/model.pt) and the config's sentence encoder, which must be the
    one the EER was trained with."""
    from seller_core.models.eer import load_eer
    from seller_core.text import embed

    kind = config["eer"]["utility_kind"]
    eer_path = Path(results) / "models" / ds / "eer" / kind / "model.pt"
    eer, meta = load_eer(eer_path)
    if meta["encoder"] != config["embed"]["model"]:
        raise SystemExit(f"{eer_path}: trained with encoder {meta['encoder']!r}, the config's embed.model is "
                         f"{config['embed']['model']!r}")
    encoder = embed.load_encoder(config["embed"]["model"], config["embed"]["device"])
    return eer, lambda texts: embed.embed_texts(encoder, texts, config["embed"]["batch_size"])


class NoGenerateProgress(logging.Filter):
    """generate_texts logs every batch; one line per probe is enough here."""

    def filter(self, record):
        return record.msg != "%s: %d/%d (%.1fs)"


def write_csv(path: Path, rows: list[dict], settings: dict) -> None:
    cols = PROBE_COLUMNS + ["dataset", "backbone", "steps", "every", "probe_seed", *SETTING_KEYS, "overrides"]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            out = {**settings, **r, "examples": " || ".join(r.get("examples", []))}
            w.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in out.items()})
    tmp.replace(path)


SHUFFLE_COLUMNS = ["step", "n", "hit_own", "hit_shuffled", "hit_diff", "hit_lo", "hit_hi", "ndcg10_own",
                   "ndcg10_shuffled", "ndcg10_diff", "ndcg10_lo", "ndcg10_hi", "ndcg10_empty", "own_distinct",
                   "shuffled_distinct"]


def write_shuffle_csv(path: Path, by_step: dict, settings: dict) -> None:
    """One row per compared step: own vs shuffled hit rate and NDCG@10 with the paired CIs."""
    rows = []
    for step, c in sorted(by_step.items()):
        r = {"step": step, **{k: c.get(k) for k in ("n", "hit_own", "hit_shuffled", "ndcg10_own", "ndcg10_shuffled",
                                                     "ndcg10_empty", "own_distinct", "shuffled_distinct")}}
        for m in ("hit", "ndcg10"):
            p = c.get(f"{m}_paired") or {}
            r.update({f"{m}_diff": p.get("diff"), f"{m}_lo": p.get("lo"), f"{m}_hi": p.get("hi")})
        rows.append(r)
    cols = SHUFFLE_COLUMNS + ["dataset", "steps", "probe_seed", *SETTING_KEYS, "overrides"]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in {**settings, **r}.items()})
    tmp.replace(path)


def plot(path: Path, rows: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(2, 2, figsize=(11, 7.5))
    a = ax[0, 0]
    for key, label, style in (("loss_own", "own vectors", "o-"), ("loss_rolled", "other sample's (rolled)", "s--"),
                              ("loss_zero", "zero vectors", "^:")):
        a.plot(steps, [r[key] for r in rows], style, label=label)
    a.set(title="teacher-forced LM loss of the GT text", xlabel="step", ylabel="mean loss (nats/token)")
    a.legend()
    a = ax[0, 1]
    a.plot(steps, [r["gap_rolled"] for r in rows], "o-", color="tab:purple")
    a.axhline(0, color="grey", lw=0.8)
    a.set(title="sample-specific signal: loss(rolled) - loss(own)", xlabel="step", ylabel="nats/token")
    a = ax[1, 0]
    a.plot(steps, [r["hit_rate"] for r in rows], "o-", label="hit rate (names a target category)")
    a.plot(steps, [r["distinct"] for r in rows], "s--", label="distinct texts")
    a.plot(steps, [r["name_precision"] for r in rows], "^:", label="category-name precision")
    a.set(title="greedy generations", xlabel="step", ylabel="share", ylim=(-0.02, 1.02))
    a.legend()
    a = ax[1, 1]
    if rows and "eer_ndcg10" in rows[0]:
        a.plot(steps, [r["eer_ndcg10"] for r in rows], "o-", label="SEG's generations")
        a.axhline(rows[0]["eer_ndcg10_empty"], color="tab:red", ls="--", label="empty explanation")
        a.set(title="EER NDCG@10 given the explanation", xlabel="step", ylabel="NDCG@10")
        a.legend()
    else:
        a.text(0.5, 0.5, "EER skipped (--no-eer)", ha="center", va="center", transform=a.transAxes)
        a.set_axis_off()
    from matplotlib.ticker import MaxNLocator

    for a in ax.flat:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
        a.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def probe_args(description: str) -> argparse.ArgumentParser:
    """The arguments every validation-probe script takes (this one, bench/baseline_probe.py)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--results", default="results")
    ap.add_argument("--backbone", default="resources/llm/smollm2-135m")
    ap.add_argument("--dataset", default="tiny_yelp")
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--probe-n", type=int, default=256)
    ap.add_argument("--probe-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-eer", action="store_true", help="skip the EER scoring")
    return ap


def main(argv=None) -> list[dict]:
    ap = probe_args(__doc__.split("\n")[0])
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="override a seg key (yaml-parsed), repeatable")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    ap.add_argument("--every", type=int, default=50, help="probe every K steps (and at 0 and the last step)")
    ap.add_argument("--at", default="", help="also probe at these steps, comma-separated (e.g. 64,128,256)")
    ap.add_argument("--out", default=None, help="output stem (default bench/out/seg_learning/<dataset>)")
    ap.add_argument("--shuffle", action="store_true",
                    help="after the last step, generate with own and with shuffled vectors on the probe set and write "
                         "<out>.shuffle.json (hit rate, EER NDCG@10, paired-bootstrap CIs of own - shuffled)")
    ap.add_argument("--shuffle-at", default="",
                    help="also compare own vs shuffled vectors at these probe steps, comma-separated (each one is "
                         "also a probe step); all comparisons go to <out>.shuffle.json (by step) and <out>.shuffle.csv")
    ap.add_argument("--skip-first", action="store_true", help="no probe at step 0 (saves its minutes)")
    args = ap.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True)
    for h in logging.getLogger().handlers:
        h.addFilter(NoGenerateProgress())
    torch.set_num_threads(args.threads)
    overrides = parse_sets(args.sets)
    cfg, gen_cfg, config = resolve_seg(args.config, overrides)
    out = Path(args.out or REPO / "bench" / "out" / "seg_learning" / args.dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    results, ds = Path(args.results), args.dataset
    data = results / "data" / ds
    device = resolve_device(config["llm"]["device"])

    # ---- data: the training pool, the probe's validation samples
    n_items = stage_io.n_items_of(data / "items.parquet")
    sasrec = load_sasrec(results / "models" / ds / "sasrec" / "model.pt")
    emb = np.load(data / "item_text_emb.npy")
    cats, gt = data / "category_texts.parquet", data / "gt" / "explanations.parquet"
    ctext = (cfg.get("category_text", "sampled"), data / "items.parquet")
    train = subsample(read_seg_samples(data / "samples_train.parquet", cats, gt, n_items, cfg["kind"], *ctext),
                      cfg["max_train_samples"], cfg["seed"])
    valid = probe_subset(read_seg_samples(data / "samples_valid.parquet", cats, gt, n_items, cfg["kind"], *ctext),
                         args.probe_n, args.probe_seed)
    per_epoch = math.ceil(len(train) / cfg["batch_size"])
    steps = args.steps or min(per_epoch * cfg["epochs"], cfg.get("max_steps") or per_epoch * cfg["epochs"])
    if args.steps:
        cfg["max_steps"] = args.steps
        if args.steps > per_epoch * cfg["epochs"]:
            cfg["epochs"] = math.ceil(args.steps / per_epoch)
            print(f"note: {args.steps} steps need {cfg['epochs']} epochs of the {len(train)}-sample pool "
                  f"(samples are reused)", flush=True)
    items = stage_io.read_parquet(data / "items.parquet", ["item_id", "categories"]).set_index("item_id")
    targets = [list(items.at[int(i), "categories"]) for i in valid["item_id"]]
    names = sorted({c for cs in items["categories"] for c in cs})

    # ---- the frozen LLM, the probe's prompts, and its own injector beside train_seg's (each hook
    # no-ops while its context is empty, and each side clears its context after every call)
    t0 = time.perf_counter()
    model, tok = load_backbone(args.backbone, device, config["llm"]["dtype"])
    builder = prompt_builder(tok, cfg)
    rows = [builder.encode(c, x) for c, x in zip(valid["category_text"], valid["explanation"])]
    prefix = PrefixCache.build(model, shared_prefix(rows, builder.prefix_len()))
    feats = SequenceFeatures(sasrec, torch.from_numpy(emb), cfg["behaviour"])
    seqs = valid["sequence"].tolist()
    eer, embed_fn = (None, None) if args.no_eer else eer_scoring(config, results, ds)
    injector = Injector(model).install()
    probe = Probe(model, tok, injector, rows, None, targets, names, gen_cfg, samples=valid, prefix=prefix, eer=eer,
                  embed_fn=embed_fn, eval_cfg=config["eval"], n_items=n_items, device=device)
    print(f"{ds}: {len(train)} training samples, {steps} steps of {cfg['batch_size']} (lr {cfg['lr']}, "
          f"{cfg.get('lr_decay', 'constant')}), probe: {len(valid)} validation samples every {args.every} steps; "
          f"setup {time.perf_counter() - t0:.1f}s", flush=True)

    settings = {"dataset": ds, "backbone": str(args.backbone), "steps": steps, "every": args.every,
                "probe_seed": args.probe_seed, **{k: cfg.get(k) for k in SETTING_KEYS},
                "overrides": json.dumps(overrides, sort_keys=True)}
    title = (f"SEG on {ds}: lr {cfg['lr']} ({cfg.get('lr_decay', 'constant')}, warm-up {cfg.get('warmup_steps', 0)}), "
             f"batch {cfg['batch_size']}, pool {len(train)} samples, {steps} steps, pool={cfg['pool']}; "
             f"probe {len(valid)} validation samples" + (f"\noverrides {overrides}" if overrides else ""))
    curve, texts, shuffles = [], {}, {}
    shuffle_at = {int(a) for a in args.shuffle_at.split(",") if a.strip()} | ({steps} if args.shuffle else set())
    at = {int(a) for a in args.at.split(",") if a.strip()} | shuffle_at
    n_probes = len({0, steps, *at, *(range(args.every, steps + 1, args.every) if args.every else ())})
    clock = {"train": 0.0, "probe": 0.0, "since": None}

    def vectors_of(adapter):
        def vectors(idx):  # probe-sample indices -> (B, K, H)
            f = {k: v.to(device) for k, v in feats([seqs[i] for i in idx]).items()}
            return adapter(f)

        return vectors

    def callback(step, adapter, _prefix):
        if clock["since"] is not None:
            clock["train"] += time.perf_counter() - clock["since"]
        if step == 0 and args.skip_first:
            clock["since"] = time.perf_counter()
            return
        injector.configure(**adapter.injection())  # the probe injects as training does (gates, mode, scale)
        row = probe.run(step, vectors_of(adapter))
        texts[step] = row.pop("texts")
        row["train_seconds"] = round(clock["train"], 1)
        curve.append(row)
        clock["probe"] += row["seconds"]
        left_steps, left_probes = steps - step, n_probes - len(curve)
        eta = (clock["train"] / step if step else 2.5) * left_steps + clock["probe"] / len(curve) * left_probes
        ndcg = (f" ndcg@10 {row['eer_ndcg10']:.4f} (empty {row['eer_ndcg10_empty']:.4f})"
                if "eer_ndcg10" in row else "")
        print(f"step {step:>5}/{steps}: loss own {row['loss_own']:.4f} rolled {row['loss_rolled']:.4f} "
              f"zero {row['loss_zero']:.4f} (gap {row['gap_rolled']:+.4f}) hit {row['hit_rate']:.3f} "
              f"distinct {row['distinct']:.3f}{ndcg} | probe {row['seconds']:.0f}s, train {clock['train']:.0f}s, "
              f"ETA {eta:.0f}s  e.g. {row['examples'][0]!r}", flush=True)
        write_csv(out.with_suffix(".csv"), curve, settings)
        plot(out.with_suffix(".png"), curve, title)
        Path(str(out) + ".texts.json").write_text(json.dumps(
            {"sample_id": valid["sample_id"].astype(int).tolist(), "texts": {str(k): v for k, v in texts.items()}}))
        if step in shuffle_at:
            t1 = time.perf_counter()
            cmp = probe.compare_shuffled(vectors_of(adapter), seed=args.probe_seed, own_texts=texts[step])
            shuffles[step] = cmp
            clock["probe"] += time.perf_counter() - t1
            Path(str(out) + ".shuffle.json").write_text(json.dumps(
                {"settings": settings, "by_step": {str(k): v for k, v in shuffles.items()}}, indent=1))
            write_shuffle_csv(Path(str(out) + ".shuffle.csv"), shuffles, settings)
            for m in ("hit", "ndcg10"):
                if f"{m}_paired" in cmp:
                    c = cmp[f"{m}_paired"]
                    print(f"step {step}: own vs shuffled {m}: {cmp[m + '_own']:.4f} vs {cmp[m + '_shuffled']:.4f}, diff {c['diff']:+.4f} "
                          f"[{c['lo']:+.4f}, {c['hi']:+.4f}] excludes 0: {c['excludes_zero']}", flush=True)
        clock["since"] = time.perf_counter()

    try:
        train_seg(model, tok, sasrec, emb, train, cfg, device, callback=callback, callback_every=args.every,
                  callback_at=at)
    finally:
        injector.remove()
    print(f"wrote {out.with_suffix('.csv')} and {out.with_suffix('.png')} ({len(curve)} checkpoints; "
          f"training {clock['train']:.0f}s, probes {clock['probe']:.0f}s)", flush=True)
    return curve


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
