"""PEPLER on a tiny random LLaMA: the frozen first stage (no LM gradient, no LM change, the prompt
vectors learn), the optional second stage (the LM learns), and train + generate through the rule
functions into the method interface."""

import json

import pandas as pd
import pytest
import torch

from llm_baseline_fixtures import GEN, LLM, make_baseline_dataset
from seg_fixtures import q4_backbone, save_backbone
from seller_core.explain.interface import read_explanations, read_provenance
from seller_core.llm.backbone import load_backbone
from seller_core.models.pepler import PEPLERConfig, PEPLERPrompt, encode, text_start_id
from seller_core.train import loop
from seller_core.train.llm_baselines import read_samples
from seller_core.methods.pepler.train import PEPLERExplainer, explain_pepler_rule, train_pepler, train_pepler_rule


def pepler_cfg(**over):
    cfg = dict(max_target_tokens=16, bos_token=None, init_range=0.1, lr=1e-2, weight_decay=0.0, batch_size=4, epochs=2,
               max_train_samples="all", stage2=False, stage2_epochs=1, stage2_lr=1e-3, log_every=1, seed=0)
    cfg.update(over)
    return cfg


def _setup(tmp_path, n_kv=4, chat=False):
    paths = make_baseline_dataset(tmp_path)
    backbone = save_backbone(tmp_path, n_kv, chat)
    model, tok = load_backbone(backbone, "cpu", "float32")
    df, n_users, n_items = read_samples(paths["train"], paths["users"], paths["item_table"], paths["gt"], "both")
    return paths, backbone, model, tok, df, n_users, n_items


def test_input_is_user_item_bos_then_text(tmp_path):
    _, _, _, tok, _, _, _ = _setup(tmp_path)
    row = encode(tok, "more comedy like this", 16)
    assert row.soft == [0, 1] and row.prompt[2] == tok.bos_token_id and len(row.prompt) == 3
    assert row.target[-1] == tok.eos_token_id and tok.decode(row.target[:-1]) == "more comedy like this"
    sushi = tok.convert_tokens_to_ids("sushi")
    assert encode(tok, None, 16, text_start_id(tok, "sushi")).prompt[2] == sushi  # a configured start token
    with pytest.raises(ValueError, match="pepler.bos_token"):
        text_start_id(tok, "<not-a-token>")


def test_first_stage_trains_prompts_only(tmp_path):
    _, _, model, tok, df, n_users, n_items = _setup(tmp_path)
    loop.RNG(0)  # the draw train_pepler makes for its initial tables (seed 0)
    init = PEPLERPrompt(PEPLERConfig(n_users, n_items, model.config.hidden_size, 0.1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prompt, history, counts = train_pepler(model, tok, df, n_users, n_items, pepler_cfg(), "cpu")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "an LM weight changed in stage 1"
    assert all(p.grad is None and not p.requires_grad for p in model.parameters()), "an LM parameter got a gradient"
    users, items = sorted(set(df["user_id"])), sorted(set(df["item_id"]))
    assert not torch.allclose(prompt.user.weight[users], init.user.weight[users])
    assert not torch.allclose(prompt.item.weight[items], init.item.weight[items])
    unseen = sorted(set(range(n_users)) - set(users))
    if unseen:  # prompts of users absent from the training samples get no gradient
        assert torch.equal(prompt.user.weight[unseen], init.user.weight[unseen])
    assert history[-1]["loss"] < history[0]["loss"] and counts["steps"] == 2 * -(-len(df) // 4)


def test_second_stage_trains_the_lm(tmp_path):
    _, _, model, tok, df, n_users, n_items = _setup(tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _, history, _ = train_pepler(model, tok, df, n_users, n_items, pepler_cfg(epochs=1, stage2=True), "cpu")
    assert [h["stage"] for h in history] == [1, 2]
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(not p.requires_grad for p in model.parameters())  # frozen again afterwards


@pytest.mark.parametrize("n_kv,chat", [(4, False), (2, True)])
def test_train_and_generate_through_the_rules(tmp_path, n_kv, chat):
    paths = make_baseline_dataset(tmp_path)
    backbone = save_backbone(tmp_path, n_kv, chat)
    d = tmp_path / "models" / "tiny" / "pepler"
    out = {"model": str(d / "model.pt"), "history": str(d / "history.json"), "cost": str(d / "cost.json")}
    inp = {"backbone": str(backbone), "train": str(paths["train"]), "gt": str(paths["gt"]),
           "users": str(paths["users"]), "item_table": str(paths["item_table"])}
    train_pepler_rule(inp, out, tmp_path / "ckpt" / "pepler.pt", pepler_cfg(), LLM, "both")
    cost = json.loads(open(out["cost"]).read())
    assert cost["stage"] == "train_pepler" and cost["tokens"] > 0 and cost["peak_rss_mb"] > 0
    assert not list((tmp_path / "ckpt").glob("*.pt"))  # checkpoints dropped once the outputs exist
    exp = tmp_path / "explanations" / "pepler.parquet"
    gcost = tmp_path / "explanations" / "pepler.cost.json"
    explain_pepler_rule({**inp, "model": out["model"], "test": str(paths["test"])},
                        {"explanations": str(exp), "cost": str(gcost)}, GEN, "synthetic")
    test = pd.read_parquet(paths["test"])
    texts = read_explanations(exp, test)
    assert len(texts) == len(test) and any(texts)
    # --decode int4 (llm/int4.py) through the same explainer: on a 4-bit-grid copy of the backbone
    # it answers every row; on the random backbone it refuses, naming a layer
    files = (out["model"], paths["users"], paths["item_table"], GEN, "cpu")
    fast = PEPLERExplainer(*files, q4_backbone(backbone, tmp_path / "llm_q4"), decode="int4")
    assert len(fast.explain(test)[0]) == len(test)
    with pytest.raises(ValueError, match="layer 0 q_proj: weights are not on a 4-bit grid"):
        PEPLERExplainer(*files, backbone, decode="int4")
    prov = read_provenance(exp)
    assert prov["method"] == "pepler" and prov["gt_backend"] == "offline" and prov["stage2"] is False
    g = json.loads(gcost.read_text())
    assert g["new_tokens"] > 0 and g["prompts"] == len(test)
