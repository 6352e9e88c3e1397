"""SELLER's explanations: a trained SEG (adapter + frozen LLM) explaining (user, target) pairs.

`SEGExplainer` loads the artifacts once and explains any number of samples in left-padded
batches; it backs both the rule `explain_seller` (every test sample -> the method's parquet) and
the on-demand command `python -m seller_core explain`. Batches are formed over samples sorted by
prompt length (less padding); results come back in the input order.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from seller_core.data.io import write_json
from seller_core.data import stage_io
from seller_core.explain.interface import read_provenance, write_explanations
from seller_core.llm.backbone import load_backbone
from seller_core.llm.generate import DEFAULT_GENERATE
from seller_core.llm.inject import Injector
from seller_core.llm.prefix import PrefixCache
from seller_core.models.seg import SequenceFeatures
from seller_core.models.sasrec import load_sasrec
from seller_core.llm.adapter_train import generate_texts
from seller_core.runtime import peak_rss_mb, resolve_device
from seller_core.train.seg_train import load_seg, prompt_builder, read_seg_samples

log = logging.getLogger(__name__)


class SEGExplainer:
    def __init__(self, adapter_path, sasrec_path, item_text_emb_path, gen_cfg: dict, device: str | None = None,
                 backbone=None):
        t0 = time.perf_counter()
        self.gen = gen_cfg
        self.adapter, ck = load_seg(adapter_path, "cpu")
        self.cfg, self.llm_cfg, self.backbone_meta = ck["seg"], ck["llm"], ck["backbone"]
        self.device = resolve_device(device or self.llm_cfg["device"])
        self.adapter.to(self.device)
        self.model, self.tok = load_backbone(backbone or self.backbone_meta["path"], self.device, self.llm_cfg["dtype"])
        if self.model.config.hidden_size != self.adapter.cfg.llm_hidden:
            raise ValueError(f"{adapter_path}: trained for an LLM of width {self.adapter.cfg.llm_hidden}, "
                             f"the backbone has {self.model.config.hidden_size}")
        emb = torch.from_numpy(np.load(item_text_emb_path))
        self.feats = SequenceFeatures(load_sasrec(sasrec_path), emb, self.cfg["behaviour"])
        self.builder = prompt_builder(self.tok, self.cfg)
        self.category_text = self.cfg.get("category_text", "sampled")  # an adapter saved before the option: sampled
        # the shared prompt prefix's keys/values, once for every pair this explainer serves
        self.prefix = PrefixCache.build(self.model, self.builder.encode("").prompt[:self.builder.prefix_len()])
        # no soft token (variant w/o DE): the stock model, no hooks installed at all
        self.injector = (Injector(self.model).configure(**self.adapter.injection()).install()
                         if self.adapter.cfg.paths else None)
        self.counts = {"prompts": 0, "prompt_tokens": 0, "new_tokens": 0, "generate_seconds": 0.0,
                       "load_seconds": round(time.perf_counter() - t0, 2)}

    def explain(self, sequences: list[list[int]], category_texts: list[str], batch_size: int | None = None) -> list[str]:
        gen = {**self.gen, "batch_size": batch_size or self.gen["batch_size"]}
        enc = [self.builder.encode(c) for c in category_texts]

        def vectors(idx):  # (B, K, H), or None without a soft token (w/o DE)
            if self.injector is None:
                return None
            f = {k: v.to(self.device) for k, v in self.feats([sequences[i] for i in idx]).items()}
            return self.adapter(f)

        texts, counts = generate_texts(self.model, self.tok, self.injector, enc, vectors, gen, self.device, "SELLER",
                                       self.prefix)
        for k in ("prompts", "prompt_tokens", "new_tokens", "generate_seconds"):
            self.counts[k] = round(self.counts[k] + counts[k], 2)
        return texts


def explain_seller_rule(inp: dict, out: dict, gen_cfg: dict, variant: str, method: str, data_source: str,
                        threads: int = 1, device: str | None = None) -> None:
    """Rule explain_seller. inp: model, sasrec, item_table, item_text_emb, test, category_texts, gt;
    out: explanations, cost."""
    t_all = time.perf_counter()
    torch.set_num_threads(threads)
    n_items = stage_io.n_items_of(inp["item_table"])
    ex = SEGExplainer(inp["model"], inp["sasrec"], inp["item_text_emb"], gen_cfg, device, inp.get("backbone"))
    # the category text the adapter was trained with (saved in it)
    test = read_seg_samples(inp["test"], inp["category_texts"], None, n_items, None, ex.category_text, inp["item_table"])
    if ex.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    texts = ex.explain(test["sequence"].tolist(), test["category_text"].tolist())
    prov = {
        "method": method, "variant": variant, "seed": ex.cfg["seed"],
        "gt_backend": stage_io.gt_backend_of(inp["gt"]), "gt_kind": ex.cfg["kind"],
        "data_source": data_source, "backbone": ex.backbone_meta, "encoder": "SEG dual-path + MoE (models/seg.py)",
        "behaviour": ex.cfg["behaviour"], "generate": gen_cfg, "device": ex.device,
        # what the table footers name: the prompt's category text and how the vectors enter the LLM
        "category_text": ex.category_text, "inject_at": ex.adapter.cfg.inject_at,
        "qkv_gate": ex.adapter.cfg.qkv_gate, "slot_scale": ex.adapter.cfg.slot_scale,
    }
    write_explanations(out["explanations"], test, texts, prov)
    cost = {"stage": "explain_seller", "device": ex.device, "wall_seconds": round(time.perf_counter() - t_all, 2),
            **ex.counts, "peak_rss_mb": round(peak_rss_mb(), 1),
            "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if ex.device.startswith("cuda") else None,
            "new_tokens_per_second": round(ex.counts["new_tokens"] / max(ex.counts["generate_seconds"], 1e-9), 1)}
    write_json(cost, out["cost"])
    empty = sum(1 for t in texts if not t)
    log.info("%d explanations (%d empty) -> %s; %s", len(texts), empty, out["explanations"], cost)


# ---------------------------------------------------------------- on demand
SPLITS = ("test", "valid", "train")


class OnDemand:
    """SELLER's explanation of (user, item) pairs or sample ids with the trained artifacts under
    `results`, the model and the data loaded once: the single-pair command, its batch form
    (`--pairs FILE`) and its resident form (`--serve`) all go through `explain`. The generation
    settings are those recorded in the method's explanations file (the module defaults when it is
    absent), so an on-demand text is the one the pipeline would write for that sample."""

    def __init__(self, results, dataset: str, variant: str = "full", device: str | None = None, backbone=None):
        results = Path(results)
        self.data = data = results / "data" / dataset
        if not data.is_dir():
            raise FileNotFoundError(f"{data}: unknown dataset {dataset!r} (no such directory under {results / 'data'})")
        self.frames = {s: stage_io.read_parquet(data / f"samples_{s}.parquet", ["sample_id", "user_id", "item_id"])
                       for s in SPLITS}
        self.users = stage_io.read_parquet(data / "users.parquet", ["user_id", "raw_user_id"])
        self.items = stage_io.read_parquet(data / "items.parquet", ["item_id", "raw_item_id", "categories"])
        method_file = results / "explanations" / dataset / ("seller.parquet" if variant == "full" else f"seller_{variant}.parquet")
        gen = read_provenance(method_file).get("generate", DEFAULT_GENERATE) if method_file.exists() else DEFAULT_GENERATE
        self.ex = SEGExplainer(results / "models" / dataset / "seg" / variant / "adapter.pt",
                               results / "models" / dataset / "sasrec" / "model.pt", data / "item_text_emb.npy", gen,
                               device, backbone)
        self._seg_rows = {}  # split -> its samples as SEG reads them (sequence, category text), read on first use

    def locate(self, user=None, item=None, sample_id=None) -> tuple[str, object]:
        """(split, row) of the sample for a raw user/item pair or a sample id; KeyError saying why not."""
        if sample_id is not None:
            for s in SPLITS:
                hit = self.frames[s][self.frames[s]["sample_id"] == int(sample_id)]
                if len(hit):
                    return s, hit.iloc[0]
            raise KeyError(f"sample_id {sample_id} is not a sample of {self.data}")
        if user is None or item is None:
            raise KeyError("a request needs sample_id, or user and item")
        u = self.users[self.users["raw_user_id"] == str(user)]
        if not len(u):
            raise KeyError(f"unknown user {user!r}: not in {self.data / 'users.parquet'} (raw_user_id)")
        i = self.items[self.items["raw_item_id"] == str(item)]
        if not len(i):
            raise KeyError(f"unknown item {item!r}: not in {self.data / 'items.parquet'} (raw_item_id)")
        uid, iid = int(u["user_id"].iloc[0]), int(i["item_id"].iloc[0])
        for s in SPLITS:
            f = self.frames[s]
            hit = f[(f["user_id"] == uid) & (f["item_id"] == iid)]
            if len(hit):
                return s, hit.iloc[-1]  # the latest interaction with that item
        known = {int(x) for s in SPLITS for x in self.frames[s].loc[self.frames[s]["user_id"] == uid, "item_id"]}
        raw = self.items.set_index("item_id").loc[sorted(known)[:10], "raw_item_id"].tolist()
        raise KeyError(f"user {user!r} has no sample with item {item!r} (SEG explains post hoc, so the pair must be an "
                       f"interaction with an earlier history); items of this user include {raw}")

    def seg_row(self, split: str, sample_id: int):
        if split not in self._seg_rows:
            # the category text as this split's rows were built for this adapter (sampled or target first)
            rows = read_seg_samples(self.data / f"samples_{split}.parquet", self.data / "category_texts.parquet", None,
                                    len(self.items), None, self.ex.category_text, self.data / "items.parquet")
            self._seg_rows[split] = rows.set_index("sample_id", drop=False)
        return self._seg_rows[split].loc[int(sample_id)]

    def explain(self, requests: list[dict]) -> list[dict]:
        """One result per request ({"user", "item"} or {"sample_id"}), in order; a request that
        cannot be served gets {"error": why, "request": it} and the others are still explained.
        The texts are generated in batches, so many requests pay the model's start-up once."""
        out, found = [None] * len(requests), []
        for n, r in enumerate(requests):
            try:
                split, row = self.locate(r.get("user"), r.get("item"), r.get("sample_id"))
                found.append((n, split, row, self.seg_row(split, row["sample_id"])))
            except KeyError as e:
                out[n] = {"error": e.args[0] if e.args else str(e), "request": r}
        use_cat = self.ex.cfg["use_categories"]
        texts = self.ex.explain([s["sequence"] for *_, s in found],
                                [s["category_text"] if use_cat else "" for *_, s in found]) if found else []
        cats = self.items.set_index("item_id")["categories"]
        for (n, split, row, s), text in zip(found, texts):
            out[n] = {"sample_id": int(row["sample_id"]), "split": split, "user_id": int(row["user_id"]),
                      "item_id": int(row["item_id"]), "target_categories": list(cats.loc[int(row["item_id"])]),
                      "category_text_given": s["category_text"] if use_cat else None, "explanation": text}
        return out


def explain_one(results: Path, dataset: str, user=None, item=None, sample_id=None, variant: str = "full",
                device: str | None = None, backbone=None) -> dict:
    """Explain one pair (KeyError / FileNotFoundError saying why it cannot be)."""
    r = OnDemand(results, dataset, variant, device, backbone).explain(
        [{"user": user, "item": item, "sample_id": sample_id}])[0]
    if "error" in r:
        raise KeyError(r["error"])
    return r
