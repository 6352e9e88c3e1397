"""The validation probe of the trained LLM baselines XRec and PEPLER, beside SEG's learning curves.

    .venv/bin/python bench/baseline_probe.py --dataset tiny_yelp --results results \\
        --backbone resources/llm/smollm2-135m --config config/config.yaml \\
        --probe-n 256 --probe-seed 0 --threads 2 --methods xrec,pepler \\
        --out bench/out/baseline_probe/tiny_yelp

Needs the pipeline's outputs under --results: the trained models of the default seed (run name
without a seed tag, as rules/methods/{xrec,pepler}.smk write them), results/models/{ds}/xrec/model.pt
(`snakemake results/models/{ds}/xrec/model.pt`; XRec also needs the LightGCN tables
results/models/{ds}/lightgcn/embeddings.npz and the profiles results/data/{ds}/xrec/profiles.parquet)
and results/models/{ds}/pepler/model.pt; the dataset's samples_valid, users, items and GT
explanations; and (unless --no-eer) the EER of kind eer.utility_kind
(results/models/{ds}/eer/{kind}/model.pt) with the sentence encoder it was trained with (embed.model).
Nothing is trained here.

The probe set is the one bench/seg_learning.py uses: seller_core.eval.probe.probe_subset over the
VALIDATION samples (never test) with --probe-n and --probe-seed (the same sample ids, as both read
samples_valid.parquet in file order). Each method's target text is the GT explanation of the kind it
was trained on (the model file's `kind`: xrec/pepler.text_kind or eer.utility_kind). Its prompts and
soft vectors are built as its explain rule builds them (seller_core/methods/xrec/train.py,
pepler_train.py): XRec's LightGCN -> MoE vectors with the profile prompt and its Injector installed
as trained (`adapter.injection()`); PEPLER's [u, i, bos] input embeddings, its Injector never
installed (and its stage-2 LM weights loaded when the model file has them). Generation uses the
method's own config section `generate` (greedy by default).

seller_core.eval.probe.Probe runs once per method at the trained step count: the teacher-forced LM
loss of the GT text with each sample's own vectors, another sample's (rolled) and zero vectors;
greedy generations and their category hit rate, category-name precision, distinct / empty shares
and the share with a stock chat-assistant phrase (STOCK_PHRASES); and the EER's NDCG@10 / Recall@10
given them, beside an empty explanation's.

Writes <out>.csv (one row per method), <out>.texts.json (every probe text per method, with the
sample ids) after each method, and prints one line per method.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: seg_learning's helpers

from seg_learning import REPO, NoGenerateProgress, eer_scoring, probe_args  # noqa: E402
from seller_core.data import stage_io  # noqa: E402
from seller_core.eval.probe import Probe, probe_subset  # noqa: E402
from seller_core.llm.inject import Injector  # noqa: E402
from seller_core.llm.prefix import PrefixCache  # noqa: E402
from seller_core.llm.prompting import shared_prefix  # noqa: E402
from seller_core.train.llm_baselines import open_backbone, read_samples  # noqa: E402

METHODS = ("xrec", "pepler")
COLUMNS = ["method", "n", "loss_own", "loss_rolled", "gap_rolled", "hit_rate", "name_precision", "distinct", "empty",
           "stock_share", "eer_ndcg10", "eer_ndcg10_empty", "seconds"]
EXTRA = ["step", "kind", "setup_seconds", "loss_zero", "gap_zero", "named_share", "eer_recall10", "eer_recall10_empty",
         "new_tokens", "vector_norm", "vector_spread", "dataset", "backbone", "probe_seed", "model", "examples"]


def model_path(results: Path, ds: str, method: str) -> Path:
    """The default seed's model file (rules/methods/<method>.smk with an empty {seedtag})."""
    return Path(results) / "models" / ds / method / "model.pt"


def valid_probe(data: Path, kind: str, n: int | None, seed: int):
    """The probe's validation samples (sample_id, user_id, item_id, explanation of GT kind `kind`,
    history), the same rows as bench/seg_learning.py's probe set -> (df, n_users, n_items)."""
    path = data / "samples_valid.parquet"
    df, n_users, n_items = read_samples(path, data / "users.parquet", data / "items.parquet",
                                        data / "gt" / "explanations.parquet", kind)
    hist = stage_io.read_samples(path, n_items)  # the same file order: the histories for the EER
    if not np.array_equal(hist["sample_id"].to_numpy(), df["sample_id"].to_numpy()):
        raise ValueError(f"{path}: sample order differs between readers")
    df["history"] = hist["history"].to_numpy()
    return probe_subset(df, n, seed), n_users, n_items


def trained_steps(ck: dict) -> int:
    return int(sum(h.get("steps", 0) for h in ck.get("history") or []))


def xrec_parts(path: Path, results: Path, ds: str, valid, n_users: int, n_items: int, backbone, device: str) -> dict:
    """explain_xrec_rule's prompts and vectors, with the GT text as target."""
    from seller_core.methods.xrec.train import XRecInputs, load_xrec, prompt_builder

    adapter, ck = load_xrec(path)
    data = Path(results) / "data" / ds
    inputs = XRecInputs(Path(results) / "models" / ds / "lightgcn" / "embeddings.npz", data / "xrec" / "profiles.parquet",
                        data / "items.parquet", n_users, n_items)
    model, tok, device, _ = open_backbone(backbone, ck["llm"], device)
    if model.config.hidden_size != adapter.cfg.llm_hidden:
        raise SystemExit(f"{path}: trained for an LLM of width {adapter.cfg.llm_hidden}, the backbone has "
                         f"{model.config.hidden_size}")
    adapter.to(device)
    builder = prompt_builder(tok, ck["xrec"])
    users, items = valid["user_id"].to_numpy(), valid["item_id"].to_numpy()
    rows = [builder.encode(inputs.texts(u, i), x) for u, i, x in zip(users, items, valid["explanation"])]
    return {"model": model, "tok": tok, "device": device, "rows": rows, "install": True,
            "injector": Injector(model).configure(**adapter.injection()),
            "prefix": PrefixCache.build(model, shared_prefix(rows, builder.prefix_len())),
            "vectors": lambda idx: adapter(*inputs.cf(users[idx], items[idx], device))}


def pepler_parts(path: Path, results: Path, ds: str, valid, n_users: int, n_items: int, backbone, device: str) -> dict:
    """explain_pepler_rule's inputs [u, i, bos] and prompt vectors, with the GT text as target; the
    Injector is never installed (input embeddings only)."""
    from seller_core.models.pepler import encode, text_start_id
    from seller_core.methods.pepler.train import load_pepler

    prompt, ck = load_pepler(path)
    if (n_users, n_items) != (prompt.cfg.n_users, prompt.cfg.n_items):
        raise SystemExit(f"{path}: trained for {prompt.cfg.n_users} users / {prompt.cfg.n_items} items, the data has "
                         f"{n_users} / {n_items}")
    model, tok, device, _ = open_backbone(backbone, ck["llm"], device)
    if model.config.hidden_size != prompt.cfg.hidden:
        raise SystemExit(f"{path}: trained for an LLM of width {prompt.cfg.hidden}, the backbone has "
                         f"{model.config.hidden_size}")
    if "lm_state_dict" in ck:  # stage 2 trained the LM: its weights belong to the model
        model.load_state_dict(ck["lm_state_dict"])
    prompt.to(device)
    users = torch.as_tensor(valid["user_id"].to_numpy().copy(), device=device)
    items = torch.as_tensor(valid["item_id"].to_numpy().copy(), device=device)
    bos = text_start_id(tok, ck["pepler"].get("bos_token"))
    rows = [encode(tok, x, ck["pepler"]["max_target_tokens"], bos) for x in valid["explanation"]]
    return {"model": model, "tok": tok, "device": device, "rows": rows, "install": False, "injector": Injector(model),
            "prefix": None, "vectors": lambda idx: prompt(users[idx], items[idx])}


PARTS = {"xrec": xrec_parts, "pepler": pepler_parts}


def write_csv(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS + EXTRA, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            out = {**r, "examples": " || ".join(r.get("examples", []))}
            w.writerow({k: (round(v, 5) if isinstance(v, float) else v) for k, v in out.items()})
    tmp.replace(path)


def main(argv=None) -> list[dict]:
    ap = probe_args(__doc__.split("\n")[0])
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}")
    ap.add_argument("--out", default=None, help="output stem (default bench/out/baseline_probe/<dataset>)")
    args = ap.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or any(m not in METHODS for m in methods):
        raise SystemExit(f"--methods {args.methods!r}: expected a comma-separated subset of {', '.join(METHODS)}")

    from seller_core.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", force=True)
    for h in logging.getLogger().handlers:
        h.addFilter(NoGenerateProgress())
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    results, ds = Path(args.results), args.dataset
    data = results / "data" / ds
    out = Path(args.out or REPO / "bench" / "out" / "baseline_probe" / ds)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = {m: model_path(results, ds, m) for m in methods}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise SystemExit(f"no trained model at {', '.join(missing)} (run: snakemake {' '.join(missing)})")
    items = stage_io.read_parquet(data / "items.parquet", ["item_id", "categories"]).set_index("item_id")
    names = sorted({c for cs in items["categories"] for c in cs})
    eer, embed_fn = (None, None) if args.no_eer else eer_scoring(config, results, ds)

    table, texts, sample_ids, kinds = [], {}, None, {}
    for m in methods:
        t0 = time.perf_counter()
        ck = torch.load(paths[m], weights_only=False, map_location="cpu")
        kind, step = ck["kind"], trained_steps(ck)  # the GT kind it learned to write
        want = config[m]["text_kind"] or config["eer"]["utility_kind"]
        if kind != want:
            print(f"note: {paths[m]} was trained on GT kind {kind!r}, the config now says {want!r}: probing with "
                  f"{kind!r}", flush=True)
        del ck
        valid, n_users, n_items = valid_probe(data, kind, args.probe_n, args.probe_seed)
        if sample_ids is None:
            sample_ids = valid["sample_id"].astype(int).tolist()
        assert valid["sample_id"].astype(int).tolist() == sample_ids  # one probe set for every method
        targets = [list(items.at[int(i), "categories"]) for i in valid["item_id"]]
        p = PARTS[m](paths[m], results, ds, valid, n_users, n_items, args.backbone, config["llm"]["device"])
        probe = Probe(p["model"], p["tok"], p["injector"], p["rows"], p["vectors"], targets, names,
                      dict(config[m]["generate"]), samples=valid, prefix=p["prefix"], eer=eer, embed_fn=embed_fn,
                      eval_cfg=config["eval"], n_items=n_items, device=p["device"], name=m)
        t_probe = time.perf_counter()
        if p["install"]:
            p["injector"].install()
        try:
            row = probe.run(step=step, vectors=p["vectors"])
        finally:
            p["injector"].remove()
        texts[m], kinds[m] = row.pop("texts"), kind
        row.update(method=m, kind=kind, dataset=ds, backbone=str(args.backbone), probe_seed=args.probe_seed,
                   model=str(paths[m]), setup_seconds=round(t_probe - t0, 2))  # seconds: the probe's own
        table.append(row)
        del p, probe
        ndcg = (f" ndcg@10 {row['eer_ndcg10']:.4f} (empty {row['eer_ndcg10_empty']:.4f})"
                if "eer_ndcg10" in row else "")
        print(f"{m} ({kind}, step {step}, n {row['n']}): loss own {row['loss_own']:.4f} rolled {row['loss_rolled']:.4f} "
              f"(gap {row['gap_rolled']:+.4f}) hit {row['hit_rate']:.3f} precision {row['name_precision']:.3f} "
              f"distinct {row['distinct']:.3f} empty {row['empty']:.3f} stock {row['stock_share']:.3f}{ndcg} | "
              f"probe {row['seconds']:.0f}s, setup {row['setup_seconds']:.0f}s  e.g. {row['examples'][0]!r}", flush=True)
        write_csv(out.with_suffix(".csv"), table)
        Path(str(out) + ".texts.json").write_text(json.dumps(
            {"sample_id": sample_ids, "kind": kinds, "texts": texts}))
    print(f"wrote {out.with_suffix('.csv')} and {out}.texts.json ({len(table)} methods)", flush=True)
    return table


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
