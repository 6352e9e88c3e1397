"""XRec: profiles through the GT backend and its cache (a rerun pays 0 requests, against the fake
Messages server), offline template profiles from training histories only, injection through the
shared hooks (zero adapter output = the bare model), and train + generate through the rule functions."""

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from fake_messages_server import FakeMessagesServer
from gt_fixtures import gt_cfg
from llm_baseline_fixtures import GEN, LLM, PROFILE_CFG, make_baseline_dataset
from seg_fixtures import q4_backbone, save_backbone, tiny_llama, word_tokenizer
from seller_core.explain.interface import read_explanations, read_provenance
from seller_core.gt.generate import SpendingCapExceeded
from seller_core.gt.profiles import OFFLINE_PROFILE_MODEL, generate_profiles, read_profiles
from seller_core.llm.adapter_train import batch_of
from seller_core.llm.inject import Injector
from seller_core.models.xrec import XRecAdapter, XRecConfig
from seller_core.methods.xrec.train import (TEMPLATE, XRecExplainer, explain_xrec_rule, prompt_builder,
                                           train_xrec_rule)

SUMMARY = "likes sushi and games on a budget"


def xrec_cfg(**over):
    cfg = dict(system_prompt="say what the user is looking for", max_name_tokens=4, max_profile_tokens=8,
               max_target_tokens=16, n_experts=8, dropout=0.2, noise=True, init_std=0.02, lr=1e-2,
               weight_decay=0.0, batch_size=4, epochs=2, max_train_samples="all", log_every=1, seed=0)
    cfg.update(over)
    return cfg


def _profiles(paths, cfg, prof=PROFILE_CFG):
    return generate_profiles(paths["item_table"], paths["users"], paths["interactions"], paths["profiles"], cfg,
                             prof, "Yelp")


def test_profiles_are_cached_a_rerun_pays_zero_requests(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    paths = make_baseline_dataset(tmp_path)
    n_users, n_items = len(pd.read_parquet(paths["users"])), len(pd.read_parquet(paths["item_table"]))
    with FakeMessagesServer(default=("text", json.dumps({"summarization": SUMMARY}))) as s:
        cfg = gt_cfg(tmp_path, backend="anthropic", base_url=s.base_url)
        first = _profiles(paths, cfg)
        assert s.requests == first["requests"] == n_users + n_items  # every user here has a training history
        body = s.bodies[0]["messages"][0]["content"]
        assert "Profile of: a user" in body or "Profile of: an item" in body
        s.reset_counts()
        again = _profiles(paths, cfg)
        assert s.requests == 0 and again["requests"] == 0 and again["hits"] == n_users + n_items
    t = pq.read_table(paths["profiles"]).to_pandas()
    assert set(t["text"]) == {SUMMARY} and set(t["backend"]) == {"anthropic"} and set(t["model"]) == {"claude-test"}
    users, items, prov = read_profiles(paths["profiles"], n_users, n_items)
    assert len(users) == n_users and len(items) == n_items and prov["prompt_version"] == "xrec-profile-v1"


def test_profile_caps_stop_before_any_request(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    paths = make_baseline_dataset(tmp_path)
    with FakeMessagesServer(default=("text", json.dumps({"summarization": SUMMARY}))) as s:
        cfg = gt_cfg(tmp_path, backend="anthropic", base_url=s.base_url)
        with pytest.raises(SpendingCapExceeded, match="max_requests"):
            _profiles(paths, cfg, {**PROFILE_CFG, "max_requests": 3})
        assert s.requests == 0


def test_offline_profiles_read_training_history_only(tmp_path):
    paths = make_baseline_dataset(tmp_path)
    _profiles(paths, gt_cfg(tmp_path))
    prof = pd.read_parquet(paths["profiles"])
    assert set(prof["backend"]) == {"offline"} and set(prof["model"]) == {OFFLINE_PROFILE_MODEL}
    inter = pd.read_parquet(paths["interactions"])
    items = pd.read_parquet(paths["item_table"]).set_index("item_id")
    for u, g in inter.groupby("user_id"):
        text = prof[(prof["kind"] == "user") & (prof["id"] == u)]["text"].iloc[0]
        train = g[g["split"] == "train"]
        assert f"Has {len(train)} past interactions" in text
        train_cats = {c for i in train["item_id"] for c in items.at[i, "categories"]}
        later = {c for i in g[g["split"] != "train"]["item_id"] for c in items.at[i, "categories"]} - train_cats
        assert later, "fixture: every user should have a category only after training"
        for c in later:  # what the user did after the training period never shows
            assert c not in text
    item0 = prof[(prof["kind"] == "item") & (prof["id"] == 0)]["text"].iloc[0]
    # the informative part first: profiles are cut to xrec.max_profile_tokens
    assert item0.startswith("Categories: " + ", ".join(items.at[0, "categories"])) and items.at[0, "name"] in item0
    assert text.startswith("Favourite categories: ")


@pytest.mark.parametrize("n_kv", [4, 2])
def test_injection_goes_through_the_shared_hooks(n_kv):
    model, tok = tiny_llama(n_kv), word_tokenizer()
    builder = prompt_builder(tok, xrec_cfg())
    rows = [builder.encode({"name": "sushi", "user_profile": "likes games", "item_profile": "sushi bars"}),
            builder.encode({"name": "comedy", "user_profile": "likes music and food", "item_profile": "comedy"})]
    batch = batch_of(rows, tok.pad_token_id, "cpu", with_target=False)
    assert batch["soft"].shape == (2, 2)
    adapter = XRecAdapter(XRecConfig(llm_hidden=64, d_in=8)).eval()
    cf = torch.randn(2, 8), torch.randn(2, 8)

    def logits(e, install):
        inj = Injector(model)
        if install:
            inj.install()
            assert len(inj.handles) == 3 * model.config.num_hidden_layers
        inj.set(batch["soft"], e, batch["ids"].shape[1])
        x = inj.inputs_embeds(batch["ids"], batch["soft"], e)
        with torch.no_grad():
            out = model(inputs_embeds=x, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]).logits
        inj.remove()
        return out

    with torch.no_grad():
        adapter.user.w.zero_()
        adapter.item.w.zero_()
        zero = adapter(*cf)
    assert torch.equal(zero, torch.zeros(2, 2, 64))
    x = model.get_input_embeddings()(batch["ids"]).clone()
    x[torch.arange(2)[:, None], batch["soft"]] = 0.0
    with torch.no_grad():
        bare = model(inputs_embeds=x, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]).logits
    assert torch.equal(logits(zero, install=True), bare)
    e = torch.randn(2, 2, 64)
    assert not torch.allclose(logits(e, install=True), logits(e, install=False))  # the q/k/v additions act


def test_prompt_layout_and_caps():
    tok = word_tokenizer()
    capped = prompt_builder(tok, xrec_cfg(max_profile_tokens=2))
    texts = {"name": "sushi", "user_profile": "sushi", "item_profile": "sushi"}
    short = capped.encode(texts)
    assert len(short.soft) == 2 and all(short.prompt[p] == tok.eos_token_id for p in short.soft)
    assert short.soft[0] < short.soft[1] and "{slot:user}" in TEMPLATE
    long = {**texts, "user_profile": "more comedy like this"}  # 4 tokens
    assert len(capped.encode(long).prompt) - len(short.prompt) == 1  # cut to the cap of 2
    uncapped = prompt_builder(tok, xrec_cfg(max_profile_tokens=8))
    assert len(uncapped.encode(long).prompt) - len(uncapped.encode(texts).prompt) == 3


@pytest.mark.parametrize("n_kv,chat", [(4, False), (2, True)])
def test_train_and_generate_through_the_rules(tmp_path, n_kv, chat):
    paths = make_baseline_dataset(tmp_path)
    _profiles(paths, gt_cfg(tmp_path))
    backbone = save_backbone(tmp_path, n_kv, chat)
    d = tmp_path / "models" / "tiny" / "xrec"
    out = {"model": str(d / "model.pt"), "history": str(d / "history.json"), "cost": str(d / "cost.json")}
    inp = {"backbone": str(backbone), "lightgcn": str(paths["lightgcn"]), "profiles": str(paths["profiles"]),
           "train": str(paths["train"]), "gt": str(paths["gt"]), "users": str(paths["users"]),
           "item_table": str(paths["item_table"])}
    train_xrec_rule(inp, out, tmp_path / "ckpt" / "xrec.pt", xrec_cfg(), LLM, "both")
    hist = json.loads(open(out["history"]).read())["history"]
    assert len(hist) == 2 and hist[-1]["loss"] < hist[0]["loss"]
    cost = json.loads(open(out["cost"]).read())
    assert cost["stage"] == "train_xrec" and cost["tokens"] > 0 and cost["steps"] > 0
    exp = tmp_path / "explanations" / "xrec.parquet"
    gcost = tmp_path / "explanations" / "xrec.cost.json"
    explain_xrec_rule({**inp, "model": out["model"], "test": str(paths["test"])},
                      {"explanations": str(exp), "cost": str(gcost)}, GEN, "synthetic")
    test = pd.read_parquet(paths["test"])
    texts = read_explanations(exp, test)
    assert len(texts) == len(test) and any(texts)
    # --decode int4 (llm/int4.py) through the same explainer: on a 4-bit-grid copy of the backbone
    # it answers every row; on the random backbone it refuses, naming a layer
    files = (out["model"], paths["lightgcn"], paths["profiles"], paths["users"], paths["item_table"], GEN, "cpu")
    fast = XRecExplainer(*files, q4_backbone(backbone, tmp_path / "llm_q4"), decode="int4")
    assert len(fast.explain(test)[0]) == len(test)
    with pytest.raises(ValueError, match="layer 0 q_proj: weights are not on a 4-bit grid"):
        XRecExplainer(*files, backbone, decode="int4")
    prov = read_provenance(exp)
    assert prov["method"] == "xrec" and prov["profiles"]["backend"] == "offline"
    assert json.loads(gcost.read_text())["new_tokens"] > 0
