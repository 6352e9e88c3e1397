"""llm/lookup.py: greedy decoding with prompt-lookup drafts gives greedy generate()'s tokens, with
fewer forwards when the text repeats, under both injection modes, with and without the shared
prefix; int4 layers take its verify forwards as decode steps; the explain command offers it."""

import pytest
import torch

from seg_fixtures import snap_model_q4, tiny_llama, word_tokenizer
from seller_core.__main__ import DECODE_CHOICES
from seller_core.llm import int4
from seller_core.llm.generate import generate_ids
from seller_core.llm.inject import Injector
from seller_core.llm.lookup import VERIFY_T, draft
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import PromptBuilder, collate, shared_prefix

def q4_llama():  # a tiny LLaMA on a 4-bit grid, as tests/test_int4.py builds it
    return snap_model_q4(tiny_llama(2))


CATS = ["comedy", "sushi , games , pets , fashion", "food , music , food , music", "travel"]


def test_draft_proposes_what_followed_the_longest_recurring_tail():
    assert draft([1, 2, 3, 9, 1, 2], k=2) == [3, 9]
    assert draft([1, 2, 7, 2, 8, 1, 2], k=2) == [7, 2]  # the tail (1, 2) beats the later (2,)
    assert draft([4, 2, 8, 2], k=3) == [8, 2]  # up to k, as many as there are
    assert draft([5, 6, 7], k=2) == [] and draft([5], k=2) == []


def count_forwards(model):
    calls = []
    return calls, model.model.layers[0].register_forward_hook(lambda m, i, o: calls.append(1))


@pytest.mark.parametrize("inject_at", ["slots", "from_slot"])
@pytest.mark.parametrize("with_prefix", [False, True])
def test_lookup_decoding_gives_the_greedy_tokens_with_fewer_forwards(inject_at, with_prefix):
    model, tok = tiny_llama(2), word_tokenizer()
    b = PromptBuilder(tok, "say what the user is looking for", ["rec", "sem"])
    rows = [b.encode(c) for c in CATS]
    prefix = PrefixCache(model, shared_prefix(rows, b.prefix_len())) if with_prefix else None
    P = len(prefix) if prefix else 0
    torch.manual_seed(2)
    e = torch.randn(len(rows), 2, 64) * 0.5
    gen = {"max_new_tokens": 24}
    calls, h = count_forwards(model)
    n_new, forwards = 0, 0
    with Injector(model).configure(inject_at=inject_at) as inj:
        for r in range(len(rows)):
            batch = collate(rows[r:r + 1], tok.pad_token_id, False, P)
            greedy = generate_ids(model, inj, batch, e[r:r + 1], gen, tok.pad_token_id, tok.eos_token_id, prefix)
            calls.clear()
            fast = generate_ids(model, inj, batch, e[r:r + 1], {**gen, "lookup": True}, tok.pad_token_id,
                                tok.eos_token_id, prefix)
            assert torch.equal(fast, greedy), (r, fast, greedy)
            n_new, forwards = n_new + greedy.shape[1], forwards + len(calls)
            assert inj.ctx.pos is None  # the context is cleared after the call
    h.remove()
    assert forwards < n_new  # some drafts were kept: fewer forwards than tokens


def test_lookup_decoding_refuses_what_it_cannot_do():
    model, tok = tiny_llama(2), word_tokenizer()
    b = PromptBuilder(tok, "say what the user is looking for", ["rec", "sem"])
    rows = [b.encode(c) for c in CATS[:2]]
    e = torch.randn(2, 2, 64)
    with Injector(model) as inj:
        with pytest.raises(ValueError, match="one row at a time"):
            generate_ids(model, inj, collate(rows, tok.pad_token_id, False), e, {"max_new_tokens": 4, "lookup": True},
                         tok.pad_token_id, tok.eos_token_id)
        with pytest.raises(ValueError, match="greedy"):
            generate_ids(model, inj, collate(rows[:1], tok.pad_token_id, False), e[:1],
                         {"max_new_tokens": 4, "lookup": True, "do_sample": True}, tok.pad_token_id, tok.eos_token_id)
        assert inj.ctx.pos is None


def test_int4_layers_take_verify_forwards_as_decode_steps():
    lin = q4_llama().model.layers[0].mlp.down_proj
    fast = int4.Int4DecodeLinear(lin)
    x = torch.randn(1, 3, lin.in_features)
    assert torch.equal(fast(x), lin(x))  # three positions: a prefill, the fp32 layer
    token = VERIFY_T.set(3)
    try:
        y = fast(x)
    finally:
        VERIFY_T.reset(token)
    assert not torch.equal(y, lin(x))  # a verify forward of three: the int4 kernel
    torch.testing.assert_close(y, lin(x), rtol=0.05, atol=0.05)


def test_decode_choices():
    assert DECODE_CHOICES == int4.DECODE  # the CLI's list is llm/int4.py's
    gen = {"batch_size": 16, "max_new_tokens": 8}
    assert int4.decode_settings(gen, "exact") is gen and int4.decode_settings(gen, "int4") is gen
    assert int4.decode_settings(gen, "int4+lookup") == {**gen, "batch_size": 1, "lookup": True}
    assert int4.decode_settings(gen, "int4+lookup+compile") == {**gen, "batch_size": 1, "lookup": True, "compile": True}
    model = q4_llama()
    assert int4.apply_decode(model, "lookup") is model
    assert isinstance(int4.apply_decode(q4_llama(), "int4+lookup").lm_head, int4.RescoredHead)
    with pytest.raises(ValueError, match="greedy decoding only"):
        int4.apply_decode(model, "lookup", greedy=False)


def lookup_tokens(model, tok, inject_at, gen, prefix_too=True):
    """Each CATS prompt's lookup-decoded ids (prefix and injection as SEG explains), one row at a time."""
    b = PromptBuilder(tok, "say what the user is looking for", ["rec", "sem"])
    rows = [b.encode(c) for c in CATS]
    prefix = PrefixCache(model, shared_prefix(rows, b.prefix_len())) if prefix_too else None
    torch.manual_seed(2)
    e = torch.randn(len(rows), 2, 64) * 0.5
    out = []
    with Injector(model).configure(inject_at=inject_at) as inj:
        for r in range(len(rows)):
            batch = collate(rows[r:r + 1], tok.pad_token_id, False, len(prefix) if prefix else 0)
            out.append(generate_ids(model, inj, batch, e[r:r + 1], gen, tok.pad_token_id, tok.eos_token_id, prefix))
    return out


@pytest.mark.parametrize("inject_at", ["slots", "from_slot"])
def test_compiled_verify_forwards_are_one_graph_for_every_prompt(inject_at):
    """The prompts differ in length and in what their drafts find, so the eager loop runs 1-3
    positions against caches of many lengths; compiled, every pair must reuse one graph (else each
    new shape or constant would cost a compile in a resident server) and give the eager tokens."""
    from torch._dynamo.testing import CompileCounter

    torch._dynamo.reset()
    model, tok = int4.int4_decode(q4_llama()), word_tokenizer()
    gen = {"max_new_tokens": 24, "lookup": True}
    eager = lookup_tokens(model, tok, inject_at, gen)
    counter = CompileCounter()  # traces with dynamo, runs the graph eagerly: counts graphs, no inductor cost
    model._lookup_compiled = torch.compile(model.forward, dynamic=True, backend=counter)
    fast = lookup_tokens(model, tok, inject_at, {**gen, "compile": True})
    assert all(torch.equal(a, b) for a, b in zip(fast, eager)), (fast, eager)
    assert counter.frame_count == 1, f"{counter.frame_count} graphs compiled for {len(CATS)} prompts"
    torch._dynamo.reset()


def test_compiled_lookup_with_inductor_gives_the_eager_tokens():
    torch._dynamo.reset()
    model, tok = int4.int4_decode(q4_llama()), word_tokenizer()
    gen = {"max_new_tokens": 16, "lookup": True}
    eager = lookup_tokens(model, tok, "from_slot", gen)
    fast = lookup_tokens(model, tok, "from_slot", {**gen, "compile": True})
    assert all(torch.equal(a, b) for a, b in zip(fast, eager)), (fast, eager)
    torch._dynamo.reset()
