"""PEPLER's two training stages and its test-set generation (models/pepler.py), on the shared
LLM pieces: backbone loading, the adapter loop (train/adapter_loop.py) and generation (llm/adapter_train.py), SEG's LM
loss (explanation tokens only), batching and the text-cleaning stop rule.

Stage 1: only the user/item prompt vectors learn; the LM is frozen (asserted after every step,
checksummed before and after). Stage 2 (`pepler.stage2`, off by default): prompts and the whole LM
learn together, as in the original's second stage; the LM's weights then belong to the model file.
The soft vectors only replace input embeddings: an Injector is used for that, never installed, so
no q/k/v hook runs (PEPLER has no attention injection).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from seller_core.data.io import write_json
from seller_core.data import stage_io
from seller_core.explain.interface import write_explanations
from seller_core.llm.adapter_train import batch_of, generate_texts, lm_loss
from seller_core.train.adapter_loop import train_adapter
from seller_core.llm.backbone import backbone_info
from seller_core.llm.inject import Injector
from seller_core.llm.int4 import apply_decode, decode_settings
from seller_core.models.pepler import PEPLERConfig, PEPLERPrompt, encode, text_start_id
from seller_core.train import loop
from seller_core.train.baseline_io import n_users_of
from seller_core.runtime import load_model, save_model
from seller_core.train.llm_baselines import (fingerprint, generate_cost, open_backbone, read_samples, sum_counts,
                                             train_cost)

log = logging.getLogger(__name__)


def train_pepler(model, tok, df, n_users: int, n_items: int, cfg: dict, device: str, ckpt=None, fp: str = "",
                 stop_after: int | None = None):
    """df: sample_id, user_id, item_id, explanation. -> (prompt module, history, counts)."""
    rng = loop.RNG(cfg["seed"])  # before the prompt tables are drawn
    prompt = PEPLERPrompt(PEPLERConfig(n_users, n_items, model.config.hidden_size, cfg["init_range"])).to(device)
    bos = text_start_id(tok, cfg.get("bos_token"))
    rows = [encode(tok, x, cfg["max_target_tokens"], bos) for x in df["explanation"]]
    users = torch.as_tensor(df["user_id"].to_numpy().copy(), device=device)
    items = torch.as_tensor(df["item_id"].to_numpy().copy(), device=device)
    soft_only = Injector(model)  # not installed: input embeddings only

    def step_loss(idx):
        batch = batch_of([rows[i] for i in idx], tok.pad_token_id, device, with_target=True)
        e = prompt(users[idx], items[idx])  # (B, 2, H)
        return lm_loss(model, soft_only, batch, e), batch

    ckpt = Path(ckpt) if ckpt else None
    stage1 = {**cfg, "optimizer": "adamw"}
    history, counts = train_adapter(prompt, len(rows), step_loss, stage1, rng, device=device, name="pepler stage 1",
                                    frozen=model, injector=soft_only, fp=fp, stop_after=stop_after,
                                    ckpt_path=ckpt.with_name(ckpt.stem + "_stage1.pt") if ckpt else None)
    history = [{**h, "stage": 1} for h in history]
    if cfg["stage2"]:
        model.requires_grad_(True)  # the original's second stage: everything learns
        both = torch.nn.ModuleDict({"prompt": prompt, "lm": model})
        stage2 = {**cfg, "optimizer": "adamw", "epochs": cfg["stage2_epochs"], "lr": cfg["stage2_lr"]}
        h2, c2 = train_adapter(both, len(rows), step_loss, stage2, rng, device=device, name="pepler stage 2",
                               frozen=None, injector=soft_only, fp=fp, stop_after=stop_after,
                               ckpt_path=ckpt.with_name(ckpt.stem + "_stage2.pt") if ckpt else None)
        model.requires_grad_(False).eval()
        history += [{**h, "stage": 2} for h in h2]
        counts = sum_counts(counts, c2)
    return prompt, history, counts


def train_pepler_rule(inp: dict, out: dict, ckpt, cfg: dict, llm_cfg: dict, kind: str, threads: int = 1,
                      run: dict | None = None) -> None:
    """Rule train_pepler. inp: backbone, train, gt, users, item_table; out: model, history, cost. cfg: the
    tracked `pepler` settings (fingerprinted, saved); run: run control, merged in for the trainer only."""
    t_all = time.perf_counter()
    torch.set_num_threads(threads)
    df, n_users, n_items = read_samples(inp["train"], inp["users"], inp["item_table"], inp["gt"], kind,
                                        cfg["max_train_samples"], cfg["seed"])
    model, tok, device, load_s = open_backbone(inp["backbone"], llm_cfg)
    fp = fingerprint({**cfg, "kind": kind}, llm_cfg, model, inp["train"], inp["gt"], inp["users"])
    prompt, history, counts = train_pepler(model, tok, df, n_users, n_items, {**cfg, **(run or {})}, device, ckpt, fp)
    art = {"pepler": cfg, "kind": kind, "llm": llm_cfg, "backbone": {"path": str(inp["backbone"]), **backbone_info(model)},
           "gt_backend": stage_io.gt_backend_of(inp["gt"]), "history": history}
    if cfg["stage2"]:
        art["lm_state_dict"] = model.state_dict()  # stage 2 changed the LM: it is part of the model
    save_model(prompt, out["model"], **art)
    write_json({"pepler": cfg, "kind": kind, "history": history, "n_train": len(df)}, out["history"])
    cost = train_cost("train_pepler", device, t_all, load_s, counts, len(df), len(history))
    write_json(cost, out["cost"])
    for s in ("_stage1.pt", "_stage2.pt"):
        Path(ckpt).with_name(Path(ckpt).stem + s).unlink(missing_ok=True)
    log.info("PEPLER trained: %s", cost)


def load_pepler(path, device: str = "cpu"):
    return load_model(path, lambda c: PEPLERPrompt(PEPLERConfig(**c)), "PEPLER", device)


class PEPLERExplainer:
    """A trained PEPLER and its backbone, loaded once, explaining any rows (user_id, item_id): the
    rule's whole test set or the pairs of `python -m seller_core explain --method pepler`."""

    def __init__(self, model_path, users_path, items_path, gen_cfg: dict, device: str | None = None, backbone=None,
                 decode: str = "exact"):
        self.prompt, self.ck = load_pepler(model_path)
        n_users, n_items = n_users_of(users_path), stage_io.n_items_of(items_path)
        if (n_users, n_items) != (self.prompt.cfg.n_users, self.prompt.cfg.n_items):
            raise ValueError(f"{model_path}: trained for {self.prompt.cfg.n_users} users / {self.prompt.cfg.n_items} "
                             f"items, the data has {n_users} / {n_items}")
        self.gen = decode_settings(gen_cfg, decode)
        self.model, self.tok, self.device, self.load_s = open_backbone(backbone or self.ck["backbone"]["path"],
                                                                       self.ck["llm"], device)
        if "lm_state_dict" in self.ck:
            self.model.load_state_dict(self.ck["lm_state_dict"])
        self.model = apply_decode(self.model, decode, not gen_cfg.get("do_sample"))  # after the LM's own weights
        self.prompt.to(self.device)
        self.row = encode(self.tok, bos_id=text_start_id(self.tok, self.ck["pepler"].get("bos_token")))

    def explain(self, df) -> tuple[list[str], dict]:
        """-> (one text per row of df, in order; generation counts)."""
        users = torch.as_tensor(df["user_id"].to_numpy().copy(), device=self.device)
        items = torch.as_tensor(df["item_id"].to_numpy().copy(), device=self.device)
        return generate_texts(self.model, self.tok, Injector(self.model), [self.row] * len(df),
                              lambda idx: self.prompt(users[idx], items[idx]), self.gen, self.device, "pepler")


def explain_pepler_rule(inp: dict, out: dict, gen_cfg: dict, data_source: str, threads: int = 1,
                        device: str | None = None) -> None:
    """Rule explain_pepler. inp: model, backbone, test, users, item_table, gt; out: explanations, cost."""
    t_all = time.perf_counter()
    torch.set_num_threads(threads)
    ex = PEPLERExplainer(inp["model"], inp["users"], inp["item_table"], gen_cfg, device, inp.get("backbone"))
    test, _, _ = read_samples(inp["test"], inp["users"], inp["item_table"])
    texts, counts = ex.explain(test)
    ck, tok = ex.ck, ex.tok
    prov = {"method": "pepler", "seed": ck["pepler"]["seed"], "gt_backend": ck["gt_backend"], "gt_kind": ck["kind"],
            "data_source": data_source, "backbone": ck["backbone"], "stage2": ck["pepler"]["stage2"],
            "input": f"[u, i, {tok.convert_ids_to_tokens(ex.row.prompt[2])}] (no prompt text, as the original)",
            "generate": gen_cfg, "device": ex.device}
    write_explanations(out["explanations"], test, texts, prov)
    cost = generate_cost("explain_pepler", ex.device, t_all, ex.load_s, counts)
    write_json(cost, out["cost"])
    log.info("%d PEPLER explanations (%d empty) -> %s; %s", len(texts), sum(not t for t in texts),
             out["explanations"], cost)
