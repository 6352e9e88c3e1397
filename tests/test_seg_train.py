"""SEG end to end on tiny fixtures, through the same functions the rules call: training with the
backbone frozen (full multi-head and grouped-query LLaMA), resume after a kill, test-set generation
through the method interface, and the explain command."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from seg_fixtures import GEN, make_dataset, save_backbone, seg_cfg, tiny_llama
from seller_core.__main__ import main
from seller_core.explain.interface import read_explanations, read_provenance
from seller_core.explain.ondemand import explain_one
from seller_core.methods.seller.explain import explain_seller_rule
from seller_core.llm.backbone import load_backbone
from seller_core.models.sasrec import load_sasrec
from seller_core.train.loop import Interrupted
from seller_core.llm.adapter_train import assert_frozen
from seller_core.methods.seller.train import load_seg, read_seg_samples, train_seg, train_seg_rule

LLM = {"source": "local", "device": "cpu", "dtype": "float32"}


def train_inputs(paths, backbone):
    return {**{k: str(v) for k, v in paths.items()}, "backbone": str(backbone)}


def outputs(root, ds="tiny"):
    d = root / "models" / ds / "seller"
    return {"model": str(d / "model.pt"), "history": str(d / "history.json"), "cost": str(d / "cost.json")}


@pytest.mark.parametrize("n_kv,chat", [(4, False), (2, True)])  # LLaMA-2-7B-shaped MHA; SmolLM2-shaped GQA + chat template
def test_train_and_generate_through_the_rules(tmp_path, n_kv, chat):
    paths = make_dataset(tmp_path)
    backbone = save_backbone(tmp_path, n_kv, chat)
    out = outputs(tmp_path)
    cfg = seg_cfg(epochs=3)
    train_seg_rule(train_inputs(paths, backbone), out, tmp_path / "ckpt.pt", cfg, LLM)
    hist = json.loads(open(out["history"]).read())["history"]
    assert len(hist) == 3 and hist[-1]["loss"] < hist[0]["loss"]  # lr 1e-2 on 12 samples: it must fit
    cost = json.loads(open(out["cost"]).read())
    steps_per_epoch = -(-len(pd.read_parquet(paths["train"])) // cfg["batch_size"])
    assert cost["tokens"] > 0 and cost["steps"] == 3 * steps_per_epoch and cost["peak_rss_mb"] > 0
    assert not (tmp_path / "ckpt.pt").exists()  # dropped once the outputs are written
    adapter, ck = load_seg(out["model"])
    assert adapter.cfg.llm_hidden == 64 and ck["backbone"]["path"] == str(backbone)

    exp = tmp_path / "explanations" / "tiny" / "seller.parquet"
    inp = {**train_inputs(paths, backbone), "model": out["model"]}
    explain_seller_rule(inp, {"explanations": str(exp), "cost": str(tmp_path / "gen_cost.json")}, GEN, "full",
                        "seller", "synthetic")
    test = pd.read_parquet(paths["test"])
    texts = read_explanations(exp, test)
    assert len(texts) == len(test) and any(texts)
    prov = read_provenance(exp)
    assert prov["method"] == "seller" and prov["gt_backend"] == "offline" and prov["data_source"] == "synthetic"
    assert json.loads((tmp_path / "gen_cost.json").read_text())["new_tokens"] > 0


def _train(tmp_path, paths, backbone, ckpt, stop_after=None):
    model, tok = load_backbone(backbone, "cpu", "float32")
    df = read_seg_samples(paths["train"], paths["category_texts"], paths["gt"], 12, "both")
    sas = load_sasrec(paths["sasrec"])
    emb = np.load(paths["item_text_emb"])
    return train_seg(model, tok, sas, emb, df, seg_cfg(epochs=3), "cpu", ckpt, "fp", stop_after), model


def test_resume_after_kill_ends_with_the_uninterrupted_weights(tmp_path):
    paths = make_dataset(tmp_path)
    backbone = save_backbone(tmp_path, 2)
    (ref, ref_hist, _), _ = _train(tmp_path, paths, backbone, None)
    ckpt = tmp_path / "ckpt" / "seg_full.pt"
    with pytest.raises(Interrupted):
        _train(tmp_path, paths, backbone, ckpt, stop_after=1)  # "killed" after epoch 1
    assert torch.load(ckpt, weights_only=False)["epoch"] == 1
    (resumed, hist, counts), _ = _train(tmp_path, paths, backbone, ckpt)
    steps_per_epoch = -(-len(pd.read_parquet(paths["train"])) // seg_cfg()["batch_size"])
    assert counts["steps"] == 2 * steps_per_epoch  # only epochs 2 and 3 ran here
    assert [h["loss"] for h in hist] == [h["loss"] for h in ref_hist]
    for (k, a), b in zip(ref.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_backbone_stays_frozen(tmp_path):
    paths = make_dataset(tmp_path)
    backbone = save_backbone(tmp_path, 4)
    before = {k: v.clone() for k, v in load_backbone(backbone, "cpu", "float32")[0].state_dict().items()}
    (adapter, _, _), model = _train(tmp_path, paths, backbone, None)
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert any(p.grad is not None for p in adapter.parameters())  # the adapter did learn
    # and the guard catches a backbone that is not frozen
    m = tiny_llama(4)
    m.model.layers[0].mlp.up_proj.weight.requires_grad_(True)
    with pytest.raises(AssertionError, match="frozen"):
        assert_frozen(m)


def test_explain_command(tmp_path, capsys):
    paths = make_dataset(tmp_path)
    backbone = save_backbone(tmp_path, 2, chat=True)
    out = outputs(tmp_path)
    train_seg_rule(train_inputs(paths, backbone), out, tmp_path / "ckpt.pt", seg_cfg(epochs=1), LLM)
    base = ["explain", "--results", str(tmp_path), "--dataset", "tiny"]
    assert main(base + ["--user", "nobody", "--item", "i1"]) == 2
    assert "unknown user 'nobody'" in capsys.readouterr().err
    assert main(base + ["--user", "u0", "--item", "no-such-item"]) == 2
    assert "unknown item 'no-such-item'" in capsys.readouterr().err
    assert main(["explain", "--results", str(tmp_path), "--dataset", "nope", "--sample-id", "1"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    test = pd.read_parquet(paths["test"]).iloc[0]
    r = explain_one(tmp_path, "tiny", user=f"u{test.user_id}", item=f"i{test.item_id}")
    assert r["sample_id"] == test.sample_id and r["split"] == "test" and isinstance(r["explanation"], str)
    assert main(base + ["--sample-id", str(int(test.sample_id)), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["explanation"] == r["explanation"] and printed["target_categories"] == r["target_categories"]


def test_variant_without_soft_tokens_generates_from_the_prompt_alone(tmp_path):
    paths = make_dataset(tmp_path)
    backbone = save_backbone(tmp_path, 2, chat=True)
    out = outputs(tmp_path)
    train_seg_rule(train_inputs(paths, backbone), out, tmp_path / "ckpt.pt", seg_cfg(use_rec=False, use_sem=False), LLM)
    assert json.loads(open(out["cost"]).read())["steps"] == 0
    exp = tmp_path / "explanations" / "tiny" / "seller_wo_de.parquet"
    explain_seller_rule({**train_inputs(paths, backbone), "model": out["model"]},
                        {"explanations": str(exp), "cost": str(tmp_path / "c.json")}, GEN, "wo_de", "seller_wo_de", "synthetic")
    assert len(read_explanations(exp, pd.read_parquet(paths["test"]))) == len(pd.read_parquet(paths["test"]))


def hooks_on(model) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.mark.parametrize("variant", ["full", "wo_be", "wo_se", "wo_ct", "wo_de"])
def test_each_ablation_variant_drops_its_component(tmp_path, variant):
    """The variants of config/config.yaml, resolved the way rules/common.smk:seg_params does, remove
    (not zero) their component: the soft slot and its path, or the category text, or every hook."""
    import yaml
    from seller_core.methods.seller.explain import SEGExplainer

    over = yaml.safe_load(open("config/config.yaml"))["seg"]["variants"][variant]
    paths = make_dataset(tmp_path)
    backbone = save_backbone(tmp_path, 2, chat=True)
    out = outputs(tmp_path)
    train_seg_rule(train_inputs(paths, backbone), out, tmp_path / "ckpt.pt", {**seg_cfg(epochs=1), **over}, LLM)
    ex = SEGExplainer(out["model"], paths["sasrec"], paths["item_text_emb"], GEN)
    want = [p for p in ("rec", "sem") if {"full": True, "wo_be": p != "rec", "wo_se": p != "sem",
                                         "wo_ct": True, "wo_de": False}[variant]]
    assert ex.adapter.cfg.paths == want and list(ex.adapter.paths) == want
    assert ex.builder.slots == want
    enc = ex.builder.encode("sushi , comedy")
    assert len(enc.soft) == len(want)
    prompt = ex.tok.decode(enc.prompt)
    has_cats = variant != "wo_ct"
    assert ("sushi" in prompt) == has_cats, prompt
    assert (("field", "categories") in ex.builder.pieces) == has_cats  # the "Categories:" line itself
    n_layers = ex.model.config.num_hidden_layers
    assert hooks_on(ex.model) == (0 if variant == "wo_de" else 3 * n_layers)  # q, k, v per layer, or none
    n_params = sum(p.numel() for p in ex.adapter.parameters())
    assert (n_params == 0) == (variant == "wo_de")
    test = read_seg_samples(paths["test"], paths["category_texts"], None, 12, None)
    texts = ex.explain(test["sequence"].tolist()[:3], test["category_text"].tolist()[:3])
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)


LEVERS = [dict(inject_at="from_slot", qkv_gate=True, slot_scale="none", category_text="target_first"),
          dict(inject_at="slots", qkv_gate=True, slot_scale="token_norm", category_text="sampled"),
          dict(inject_at="from_slot", qkv_gate=False, slot_scale="token_norm", category_text="sampled")]


@pytest.mark.parametrize("levers", LEVERS)
def test_each_lever_reaches_the_saved_adapter_and_explanations(tmp_path, levers, caplog, monkeypatch):
    """Issue 20's levers: an adapter trained with them keeps them (config + gate weights), the
    explain rule and the explain command inject as it was trained, and the fingerprint tells a
    checkpoint of the default settings from one of these."""
    paths = make_dataset(tmp_path)
    backbone = save_backbone(tmp_path, 2, chat=True)
    inp, out, ckpt = train_inputs(paths, backbone), outputs(tmp_path), tmp_path / "ckpt.pt"
    from seller_core.methods.seller import train as seg_train

    real = seg_train.train_seg
    with monkeypatch.context() as m, pytest.raises(Interrupted):  # leave a checkpoint of the default settings
        m.setattr(seg_train, "train_seg", lambda *a, **k: real(*a, **{**k, "stop_after": 1}))
        train_seg_rule(inp, out, ckpt, seg_cfg(epochs=2), LLM)
    assert ckpt.exists()
    caplog.clear()
    train_seg_rule(inp, out, ckpt, seg_cfg(epochs=2, **levers), LLM)
    assert "ignoring checkpoint" in caplog.text  # the levers are in the fingerprint
    adapter, ck = load_seg(out["model"])
    assert {k: getattr(adapter.cfg, k) for k in ("inject_at", "qkv_gate", "slot_scale")} == \
        {k: levers[k] for k in ("inject_at", "qkv_gate", "slot_scale")}
    assert ck["seg"]["category_text"] == levers["category_text"]
    if levers["qkv_gate"]:
        gates = adapter.state_dict()["gates.weight"]
        # trained away from their zero start (in slots mode the last layer's q gate alone gets no
        # gradient: the slot's own query feeds no labelled position)
        assert gates.shape == (2, 3) and int((gates != 0).sum()) >= 5
    exp = tmp_path / "explanations" / "tiny" / "seller.parquet"
    explain_seller_rule({**inp, "model": out["model"]}, {"explanations": str(exp), "cost": str(tmp_path / "c.json")},
                        GEN, "full", "seller", "synthetic")
    prov = read_provenance(exp)
    assert {k: prov[k] for k in levers} == levers
    test = pd.read_parquet(paths["test"]).iloc[0]
    r = explain_one(tmp_path, "tiny", sample_id=int(test.sample_id))
    texts = read_explanations(exp, pd.read_parquet(paths["test"]))
    assert r["explanation"] == texts[0]  # on demand = the rule's batch, so the same injection ran
    if levers["category_text"] == "target_first":
        items = pd.read_parquet(paths["item_table"]).set_index("item_id")
        assert r["category_text_given"].startswith(", ".join(items.at[int(test.item_id), "categories"]))



def test_stage1_trains_on_the_target_categories_and_resumes(tmp_path, monkeypatch):
    """The optional first stage: its loss is on the target's category names, it is in the step
    count, and a kill during stage 2 resumes without redoing stage 1, with the same weights."""
    paths = make_dataset(tmp_path)
    backbone = save_backbone(tmp_path, 2, chat=True)
    model, tok = load_backbone(backbone, "cpu", "float32")
    df = read_seg_samples(paths["train"], paths["category_texts"], paths["gt"], 12, "both", "sampled", paths["item_table"])
    items = pd.read_parquet(paths["item_table"]).set_index("item_id")
    assert df["target_categories"].tolist() == [list(items.at[i, "categories"]) for i in df["item_id"]]
    sas, emb = load_sasrec(paths["sasrec"]), np.load(paths["item_text_emb"])
    cfg = seg_cfg(epochs=2, stage1_steps=3)
    ref, ref_hist, counts = train_seg(model, tok, sas, emb, df, cfg, "cpu")
    steps_per_epoch = -(-len(df) // cfg["batch_size"])
    assert counts["steps"] == 3 + 2 * steps_per_epoch
    assert [h.get("stage") for h in ref_hist][:1] == [1] and len(ref_hist) == 1 + 2
    plain, _, _ = train_seg(model, tok, sas, emb, df, seg_cfg(epochs=2), "cpu")
    assert any(not torch.equal(a, b) for a, b in zip(ref.state_dict().values(), plain.state_dict().values()))
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(Interrupted):
        train_seg(model, tok, sas, emb, df, cfg, "cpu", ckpt, "fp", stop_after=1)
    resumed, hist, counts = train_seg(model, tok, sas, emb, df, cfg, "cpu", ckpt, "fp")
    assert counts["steps"] == steps_per_epoch  # stage 1 and epoch 1 came from their checkpoints
    for (k, a), b in zip(ref.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_explain_batch_and_resident_forms(tmp_path, capsys, monkeypatch):
    """--pairs and --serve load the model once and answer each request like the single-pair form;
    a bad request gets an error line naming it and the others are still answered."""
    import io

    paths = make_dataset(tmp_path)
    backbone = save_backbone(tmp_path, 2, chat=True)
    train_seg_rule(train_inputs(paths, backbone), outputs(tmp_path), tmp_path / "ckpt.pt", seg_cfg(epochs=1), LLM)
    base = ["explain", "--results", str(tmp_path), "--dataset", "tiny"]
    test = pd.read_parquet(paths["test"])
    one = [explain_one(tmp_path, "tiny", sample_id=int(s)) for s in test["sample_id"][:3]]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user,item,sample_id\n" + "".join(f",,{r['sample_id']}\n" for r in one[:2])
                     + "nobody,i1,\n" + f"u{one[2]['user_id']},i{one[2]['item_id']},\n")
    assert main(base + ["--pairs", str(pairs)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 4 and "unknown user 'nobody'" in lines[2]["error"]
    # the batch generates the three texts together: the same texts as one at a time
    assert [lines[i]["explanation"] for i in (0, 1, 3)] == [r["explanation"] for r in one]
    assert lines[3]["sample_id"] == one[2]["sample_id"]  # the user/item form finds the same test sample

    bad = tmp_path / "bad.csv"
    bad.write_text("user,item\nu0,i1\nu0,\n")
    assert main(base + ["--pairs", str(bad)]) == 2
    assert "bad.csv, line 3: needs sample_id, or user and item" in capsys.readouterr().err
    noheader = tmp_path / "noheader.tsv"
    noheader.write_text("u0\ti1\n")
    assert main(base + ["--pairs", str(noheader)]) == 2
    assert "noheader.tsv, line 1: the header must name" in capsys.readouterr().err

    stdin = io.StringIO(json.dumps({"sample_id": one[0]["sample_id"]}) + "\n{not json\n\n"
                        + json.dumps({"user": "u0"}) + "\n" + json.dumps({"sample_id": one[1]["sample_id"]}) + "\n")
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(base + ["--serve"]) == 0
    captured = capsys.readouterr()
    assert "ready:" in captured.err
    served = [json.loads(x) for x in captured.out.splitlines()]
    assert len(served) == 4 and all(s["seconds"] >= 0 for s in served)
    assert served[0]["explanation"] == one[0]["explanation"] and served[3]["explanation"] == one[1]["explanation"]
    assert "stdin, line 2: not JSON" in served[1]["error"] and "stdin, line 4: needs sample_id" in served[2]["error"]
