"""SELLER's explanations: a trained SEG (adapter + frozen LLM) explaining (user, target) pairs.

`SEGExplainer` loads the artifacts once and explains any number of samples in left-padded
batches; it backs both the rule `explain_seller` (every test sample -> the method's parquet) and,
through `SEGRows`, the on-demand command `python -m seller_core explain` (explain/ondemand.py). Batches are formed over samples sorted by
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
from seller_core.explain.interface import write_explanations
from seller_core.llm.backbone import load_backbone
from seller_core.llm.inject import Injector
from seller_core.llm.int4 import apply_decode, decode_settings
from seller_core.llm.prefix import PrefixCache
from seller_core.models.seg import SequenceFeatures
from seller_core.models.sasrec import load_sasrec
from seller_core.llm.adapter_train import generate_texts
from seller_core.runtime import cost_record, resolve_device
from seller_core.methods.seller.train import load_seg, prompt_builder, read_seg_samples

log = logging.getLogger(__name__)


class SEGExplainer:
    def __init__(self, adapter_path, sasrec_path, item_text_emb_path, gen_cfg: dict, device: str | None = None,
                 backbone=None, decode: str = "exact"):
        t0 = time.perf_counter()
        self.gen = decode_settings(gen_cfg, decode)
        self.adapter, ck = load_seg(adapter_path, "cpu")
        self.cfg, self.llm_cfg, self.backbone_meta = ck["seg"], ck["llm"], ck["backbone"]
        self.device = resolve_device(device or self.llm_cfg["device"])
        self.adapter.to(self.device)
        self.model, self.tok = load_backbone(backbone or self.backbone_meta["path"], self.device, self.llm_cfg["dtype"])
        self.model = apply_decode(self.model, decode, not gen_cfg.get("do_sample"))
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
    cost = cost_record("explain_seller", ex.device, t_all, ("new_tokens", "generate_seconds", "new_tokens_per_second"),
                       **ex.counts)
    write_json(cost, out["cost"])
    empty = sum(1 for t in texts if not t)
    log.info("%d explanations (%d empty) -> %s; %s", len(texts), empty, out["explanations"], cost)


# ---------------------------------------------------------------- on demand
class SEGRows:
    """SELLER's on-demand explainer (explain/ondemand.py): samples of any split, read as SEG reads
    them (sequence, category text), explained by one SEGExplainer."""

    def __init__(self, files: dict, gen_cfg: dict, device: str | None = None, backbone=None, decode: str = "exact"):
        """files: the explain step's inputs (methods/seller.py: explain_files); other splits' samples
        are read beside the test samples."""
        self.files = {k: Path(v) for k, v in files.items()}
        self.ex = SEGExplainer(self.files["model"], self.files["sasrec"], self.files["item_text_emb"], gen_cfg, device,
                               backbone, decode)
        self._rows = {}  # split -> its samples as SEG reads them, read on first use
        self.n_items = stage_io.n_items_of(self.files["item_table"])

    def seg_row(self, split: str, sample_id: int):
        if split not in self._rows:
            # the category text as this split's rows were built for this adapter (sampled or target first)
            f = self.files
            rows = read_seg_samples(f["test"].with_name(f"samples_{split}.parquet"), f["category_texts"], None,
                                    self.n_items, None, self.ex.category_text, f["item_table"])
            self._rows[split] = rows.set_index("sample_id", drop=False)
        return self._rows[split].loc[int(sample_id)]

    def explain(self, cases: list[tuple[str, object]]) -> list[dict]:
        segs = [self.seg_row(split, row["sample_id"]) for split, row in cases]
        use_cat = self.ex.cfg["use_categories"]
        texts = self.ex.explain([s["sequence"] for s in segs], [s["category_text"] if use_cat else "" for s in segs])
        return [{"category_text_given": s["category_text"] if use_cat else None, "explanation": t}
                for s, t in zip(segs, texts)]
