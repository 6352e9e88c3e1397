"""llm/int4.py: the opt-in int4 decode path reads a 4-bit-grid backbone's codes on decode steps,
keeps the prefill exact, picks the fp32 model's greedy token when it is among the int4 head's top-k, and
refuses weights that are not on a 4-bit grid."""

import pandas as pd
import pytest
import torch
from torch import nn

from seller_core.llm.int4 import GROUP, Int4DecodeLinear, RescoredHead, apply_decode, int4_decode
from seg_fixtures import make_dataset, seg_cfg, snap_model_q4, snap_q4, tiny_llama, word_tokenizer
from seller_core.__main__ import main


def q4_llama():
    return snap_model_q4(tiny_llama(2))


def test_linear_prefill_exact_decode_close():
    torch.manual_seed(0)
    lin = nn.Linear(64, 96, bias=False).requires_grad_(False)
    with torch.no_grad():
        lin.weight.copy_(snap_q4(lin.weight))
    q = Int4DecodeLinear(lin)
    x = torch.randn(3, 5, 64)
    assert torch.equal(q(x), lin(x))  # prefill / training shapes: the fp32 layer itself
    step = torch.randn(3, 1, 64)
    y, ref = q(step), lin(step)
    assert not torch.equal(y, ref)  # the decode step really takes the int4 kernel (bf16 activations)
    torch.testing.assert_close(y, ref, rtol=0.03, atol=0.03 * float(ref.abs().max()))


def test_off_grid_weights_are_refused_naming_the_layer():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="layer 0 q_proj: weights are not on a 4-bit grid"):
        Int4DecodeLinear(nn.Linear(64, 64, bias=False), "layer 0 q_proj")
    with pytest.raises(ValueError, match="not a multiple of the 32-wide"):
        Int4DecodeLinear(nn.Linear(48, 64, bias=False))
    with pytest.raises(ValueError, match="not on a 4-bit grid"):
        int4_decode(tiny_llama(2))  # a random (or fine-tuned) backbone


def test_rescored_head_top_k_is_exact():
    torch.manual_seed(0)
    head = nn.Linear(64, 500, bias=False).requires_grad_(False)
    h = torch.randn(4, 1, 64)
    out, ref = RescoredHead(head)(h), head(h)
    assert torch.equal(out.argmax(-1), ref.argmax(-1))
    top = out.topk(32, dim=-1).indices
    torch.testing.assert_close(out.gather(-1, top), ref.gather(-1, top), rtol=1e-5, atol=1e-5)
    # every other token is out of greedy's reach, so an approximate logit can never beat an exact one
    rest = out.scatter(-1, top, torch.finfo(out.dtype).min)
    assert bool((rest == torch.finfo(out.dtype).min).all())
    # the candidates are the 4-bit head's: most of the exact top 32 are among them, not necessarily all
    ref_top = ref.topk(32, dim=-1).indices
    overlap = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(top.reshape(-1, 32), ref_top.reshape(-1, 32)))
    assert overlap >= 0.6 * ref_top.numel()


def test_generate_first_token_and_prefill_match_exact():
    """The prefill is the fp32 model's, so the first generated token is the exact model's; the
    decode steps run through the int4 modules (hooks attach to them like to nn.Linear)."""
    exact, fast = q4_llama(), int4_decode(q4_llama())
    assert isinstance(fast.model.layers[0].self_attn.k_proj, Int4DecodeLinear)
    ids = torch.randint(3, 60, (2, 9))
    kw = dict(attention_mask=torch.ones_like(ids), max_new_tokens=6, min_new_tokens=6, do_sample=False,
              pad_token_id=0, eos_token_id=1)
    a, b = exact.generate(ids, **kw), fast.generate(ids, **kw)
    assert a.shape == b.shape and torch.equal(a[:, :10], b[:, :10])
    seen = []
    fast.model.layers[0].self_attn.q_proj.register_forward_hook(lambda m, i, o: seen.append(o.shape[1]))
    fast.generate(ids, **kw)
    assert seen[0] == 9 and set(seen[1:]) == {1}


def test_apply_decode_choices():
    model = q4_llama()
    assert apply_decode(model, "exact") is model
    with pytest.raises(ValueError, match="not one of exact, int4, lookup, int4\\+lookup"):
        apply_decode(model, "int8")
    with pytest.raises(ValueError, match="greedy decoding only"):
        apply_decode(model, "int4", greedy=False)
    with pytest.raises(ValueError, match="needs the fp32 backbone"):
        apply_decode(q4_llama().to(torch.bfloat16), "int4")


def test_explain_command_decode_int4(tmp_path, capsys):
    """`explain --decode int4` answers with a trained SEG on a 4-bit-grid backbone; a backbone off
    the grid and a method without an LLM are clear errors (exit 2), not tracebacks."""
    import json

    from seller_core.methods import peter
    from seller_core.methods.seller.train import train_seg_rule

    paths = make_dataset(tmp_path)
    on_grid, off_grid = tmp_path / "llm_q4", tmp_path / "llm_rand"
    q4_llama().save_pretrained(on_grid)
    tiny_llama(2).save_pretrained(off_grid)
    for d in (on_grid, off_grid):
        word_tokenizer(True).save_pretrained(d)
    d = tmp_path / "models" / "tiny" / "seller"
    train_seg_rule({**{k: str(v) for k, v in paths.items()}, "backbone": str(on_grid)},
                   {"model": str(d / "model.pt"), "history": str(d / "history.json"), "cost": str(d / "cost.json")},
                   tmp_path / "ckpt.pt", seg_cfg(epochs=1), {"source": "local", "device": "cpu", "dtype": "float32"})
    base = ["explain", "--results", str(tmp_path), "--dataset", "tiny", "--json", "--sample-id"]
    sid = str(int(pd.read_parquet(paths["test"])["sample_id"].iloc[0]))
    assert main(base + [sid, "--decode", "int4"]) == 0
    fast = json.loads(capsys.readouterr().out)
    assert main(base + [sid]) == 0
    exact = json.loads(capsys.readouterr().out)
    assert fast["sample_id"] == exact["sample_id"] and isinstance(fast["explanation"], str)
    assert main(base + [sid, "--decode", "lookup"]) == 0  # llm/lookup.py: the exact text, fewer forwards
    assert json.loads(capsys.readouterr().out) == exact
    assert main(base + [sid, "--decode", "int4", "--backbone", str(off_grid)]) == 2
    assert "not on a 4-bit grid" in capsys.readouterr().err
    with pytest.raises(ValueError, match="PETER is its own small transformer"):
        peter.METHOD.explainer(tmp_path, "tiny", "peter", decode="int4")
