"""XRec's training and test-set generation (models/xrec.py) on the shared LLM pieces: backbone
loading, SEG's injection hooks (llm/inject.py, installed as for SEG), the adapter loop and
generation (llm/adapter_train.py), SEG's LM loss (explanation tokens only) and stop rule.

Prompt (XRec's explainer prompt, in our words; [S] = a soft slot):
    User record: [S]\\nItem record: [S]\\nItem name: {name}\\nUser profile: {..}\\nItem profile: {..}
in the backbone's chat template after `xrec.system_prompt`; the name and each profile are cut to
their token caps (`xrec.max_name_tokens`, `xrec.max_profile_tokens`) so the prompt's length (and
with it the cost, the point of the paper's Table 5) stays bounded.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from seller_core.data import stage_io
from seller_core.data.io import write_json
from seller_core.explain.interface import write_explanations
from seller_core.gt.profiles import read_profiles
from seller_core.llm.adapter_train import batch_of, generate_texts, lm_loss
from seller_core.train.adapter_loop import train_adapter
from seller_core.llm.backbone import backbone_info
from seller_core.llm.inject import Injector
from seller_core.llm.int4 import apply_decode, decode_settings
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import SlotPrompt, shared_prefix
from seller_core.models.xrec import CFTables, XRecAdapter, XRecConfig
from seller_core.train import loop
from seller_core.train.baseline_io import n_users_of
from seller_core.train.lightgcn_train import load_embeddings
from seller_core.runtime import load_model, save_model
from seller_core.train.llm_baselines import fingerprint, generate_cost, open_backbone, read_samples, train_cost

log = logging.getLogger(__name__)

TEMPLATE = ("User record: {slot:user}\nItem record: {slot:item}\nItem name: {text:name}\n"
            "User profile: {text:user_profile}\nItem profile: {text:item_profile}")
MODEL_KEYS = ("n_experts", "dropout", "noise", "init_std", "inject_at", "qkv_gate", "slot_scale")


def prompt_builder(tok, cfg: dict) -> SlotPrompt:
    caps = {"name": cfg["max_name_tokens"], "user_profile": cfg["max_profile_tokens"],
            "item_profile": cfg["max_profile_tokens"]}
    return SlotPrompt(tok, cfg["system_prompt"], TEMPLATE, caps, cfg["max_target_tokens"])


class XRecInputs:
    """Everything a sample's prompt and soft vectors come from: LightGCN tables, item names, profiles."""

    def __init__(self, embeddings_path, profiles_path, items_path, n_users: int, n_items: int):
        user, item, _ = load_embeddings(embeddings_path)
        if user.shape[0] != n_users or item.shape[0] != n_items:
            raise ValueError(f"{embeddings_path}: {user.shape[0]} users / {item.shape[0]} items, the data has "
                             f"{n_users} / {n_items}")
        self.cf = CFTables(torch.from_numpy(user), torch.from_numpy(item))
        self.names = stage_io.read_parquet(items_path, ["item_id", "name"]).sort_values("item_id")["name"].tolist()
        self.user_profiles, self.item_profiles, self.profile_prov = read_profiles(profiles_path, n_users, n_items)

    def texts(self, u: int, i: int) -> dict:
        return {"name": str(self.names[i]), "user_profile": self.user_profiles[u], "item_profile": self.item_profiles[i]}


def train_xrec(model, tok, data: XRecInputs, df, cfg: dict, device: str, ckpt=None, fp: str = "",
               stop_after: int | None = None):
    """df: sample_id, user_id, item_id, explanation. -> (adapter, history, counts)."""
    rng = loop.RNG(cfg["seed"])  # before the adapter's weights are drawn
    adapter = XRecAdapter(XRecConfig(model.config.hidden_size, data.cf.user.shape[1],
                                     llm_layers=model.config.num_hidden_layers,
                                     **{k: cfg[k] for k in MODEL_KEYS if k in cfg})).to(device)
    builder = prompt_builder(tok, cfg)
    users, items = df["user_id"].to_numpy(), df["item_id"].to_numpy()
    rows = [builder.encode(data.texts(u, i), x) for u, i, x in zip(users, items, df["explanation"])]
    prefix = PrefixCache.build(model, shared_prefix(rows, builder.prefix_len()))
    injector = Injector(model).configure(**adapter.injection()).install()

    def step_loss(idx):
        batch = batch_of([rows[k] for k in idx], tok.pad_token_id, device, with_target=True, prefix=prefix)
        e = adapter(*data.cf(users[idx], items[idx], device))  # (B, 2, H)
        return lm_loss(model, injector, batch, e, prefix), batch

    try:
        history, counts = train_adapter(adapter, len(rows), step_loss, cfg, rng, device=device, name="xrec",
                                        frozen=model, injector=injector, ckpt_path=ckpt, fp=fp, stop_after=stop_after)
    finally:
        injector.remove()
    return adapter, history, counts


def train_xrec_rule(inp: dict, out: dict, ckpt, cfg: dict, llm_cfg: dict, kind: str, threads: int = 1,
                    run: dict | None = None) -> None:
    """Rule train_xrec. inp: backbone, lightgcn, profiles, train, gt, users, item_table; out: model, history, cost.
    cfg: the tracked `xrec` settings (fingerprinted, saved); run: run control, merged in for the trainer only."""
    t_all = time.perf_counter()
    torch.set_num_threads(threads)
    df, n_users, n_items = read_samples(inp["train"], inp["users"], inp["item_table"], inp["gt"], kind,
                                        cfg["max_train_samples"], cfg["seed"])
    data = XRecInputs(inp["lightgcn"], inp["profiles"], inp["item_table"], n_users, n_items)
    model, tok, device, load_s = open_backbone(inp["backbone"], llm_cfg)
    fp = fingerprint({**cfg, "kind": kind}, llm_cfg, model, inp["train"], inp["gt"], inp["lightgcn"], inp["profiles"])
    adapter, history, counts = train_xrec(model, tok, data, df, {**cfg, **(run or {})}, device, ckpt, fp)
    save_model(adapter, out["model"], xrec=cfg, kind=kind, llm=llm_cfg,
               backbone={"path": str(inp["backbone"]), **backbone_info(model)},
               gt_backend=stage_io.gt_backend_of(inp["gt"]), profiles=data.profile_prov, history=history)
    write_json({"xrec": cfg, "kind": kind, "history": history, "n_train": len(df), "profiles": data.profile_prov},
               out["history"])
    cost = train_cost("train_xrec", device, t_all, load_s, counts, len(df), len(history))
    write_json(cost, out["cost"])
    Path(ckpt).unlink(missing_ok=True)
    log.info("XRec trained: %s", cost)


def load_xrec(path, device: str = "cpu"):
    return load_model(path, lambda c: XRecAdapter(XRecConfig(**c)), "XRec", device)


class XRecExplainer:
    """A trained XRec, its inputs (LightGCN tables, profiles) and its backbone, loaded once, explaining
    any rows (user_id, item_id): the rule's whole test set or `python -m seller_core explain --method xrec`."""

    def __init__(self, model_path, lightgcn_path, profiles_path, users_path, items_path, gen_cfg: dict,
                 device: str | None = None, backbone=None, decode: str = "exact"):
        self.adapter, self.ck = load_xrec(model_path)
        n_users, n_items = n_users_of(users_path), stage_io.n_items_of(items_path)
        self.data = XRecInputs(lightgcn_path, profiles_path, items_path, n_users, n_items)
        self.gen = decode_settings(gen_cfg, decode)
        self.model, self.tok, self.device, self.load_s = open_backbone(backbone or self.ck["backbone"]["path"],
                                                                       self.ck["llm"], device)
        self.model = apply_decode(self.model, decode, not gen_cfg.get("do_sample"))
        if self.model.config.hidden_size != self.adapter.cfg.llm_hidden:
            raise ValueError(f"{model_path}: trained for an LLM of width {self.adapter.cfg.llm_hidden}, the backbone "
                             f"has {self.model.config.hidden_size}")
        self.adapter.to(self.device)
        self.builder = prompt_builder(self.tok, self.ck["xrec"])

    def explain(self, df) -> tuple[list[str], dict]:
        """-> (one text per row of df, in order; generation counts)."""
        users, items = df["user_id"].to_numpy(), df["item_id"].to_numpy()
        rows = [self.builder.encode(self.data.texts(u, i)) for u, i in zip(users, items)]
        prefix = PrefixCache.build(self.model, shared_prefix(rows, self.builder.prefix_len()))
        with Injector(self.model).configure(**self.adapter.injection()) as injector:
            return generate_texts(self.model, self.tok, injector, rows,
                                  lambda idx: self.adapter(*self.data.cf(users[idx], items[idx], self.device)),
                                  self.gen, self.device, "xrec", prefix)


def explain_xrec_rule(inp: dict, out: dict, gen_cfg: dict, data_source: str, threads: int = 1,
                      device: str | None = None) -> None:
    """Rule explain_xrec. inp: model, backbone, lightgcn, profiles, test, users, item_table; out: explanations, cost."""
    t_all = time.perf_counter()
    torch.set_num_threads(threads)
    ex = XRecExplainer(inp["model"], inp["lightgcn"], inp["profiles"], inp["users"], inp["item_table"], gen_cfg,
                       device, inp.get("backbone"))
    test, _, _ = read_samples(inp["test"], inp["users"], inp["item_table"])
    texts, counts = ex.explain(test)
    ck, adapter = ex.ck, ex.adapter
    prov = {"method": "xrec", "seed": ck["xrec"]["seed"], "gt_backend": ck["gt_backend"], "gt_kind": ck["kind"],
            "data_source": data_source, "backbone": ck["backbone"], "profiles": ex.data.profile_prov,
            "generate": gen_cfg, "device": ex.device, "inject_at": adapter.cfg.inject_at,
            "qkv_gate": adapter.cfg.qkv_gate, "slot_scale": adapter.cfg.slot_scale}
    write_explanations(out["explanations"], test, texts, prov)
    cost = generate_cost("explain_xrec", ex.device, t_all, ex.load_s, counts)
    write_json(cost, out["cost"])
    log.info("%d XRec explanations (%d empty) -> %s; %s", len(texts), sum(not t for t in texts),
             out["explanations"], cost)
