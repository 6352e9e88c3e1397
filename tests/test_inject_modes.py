"""The injection levers of llm/inject.py (issue 20): where Eq. 10 adds (`slots` | `from_slot`), the
zero-initialised per-layer q/k/v gates and the slot's rescaling to the token-embedding norm. Each
mode keeps the invariants the default has: zero vectors are the stock model, a row batched is the
row alone, a cached decode is a no-cache recompute, and the shared prefix changes nothing. Tiny
random LLaMAs with full multi-head (LLaMA-2-7B's shape) and grouped-query attention (SmolLM2's)."""

import pytest
import torch

from seg_fixtures import tiny_llama, word_tokenizer
from seller_core.llm.adapter_train import lm_loss
from seller_core.llm.generate import generate_ids
from seller_core.llm.inject import InjectionGates, Injector, prompt_embeds
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import PromptBuilder, collate, shared_prefix

CATS = ["comedy", "sushi , games , pets , fashion", "food , music", "travel"]  # ragged rows
EXPL = ["more comedy like this", "sushi", "something new in food and music worth my time", "travel"]
# (inject_at, gated, slot_scale): today's default, the literal Eq. 10, and both with the other levers
MODES = [("slots", False, "none"), ("slots", True, "token_norm"), ("from_slot", False, "none"),
         ("from_slot", True, "none"), ("from_slot", True, "token_norm")]
GEN = {"max_new_tokens": 6, "min_new_tokens": 6}


def rows_of(tok, with_target=True):
    b = PromptBuilder(tok, "say what the user is looking for", ["rec", "sem"])
    return b, [b.encode(c, x if with_target else None) for c, x in zip(CATS, EXPL)]


def injector(model, inject_at, gated, slot_scale, gate_value=0.7):
    gates = None
    if gated:  # nonzero, unequal gates: a zero gate would hide a mode's additions from these tests
        g = InjectionGates(model.config.num_hidden_layers)
        with torch.no_grad():
            g.weight.copy_(gate_value * torch.arange(1, g.weight.numel() + 1).view_as(g.weight) / g.weight.numel())
        gates = g.weight
    return Injector(model).configure(inject_at, gates, slot_scale).install()


def vectors(n, seed=5):
    torch.manual_seed(seed)
    return torch.randn(n, 2, 64) * 0.5


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n_kv", [4, 2])
def test_zero_vectors_are_the_stock_model_in_every_mode(n_kv, mode):
    model, tok = tiny_llama(n_kv), word_tokenizer()
    b, rows = rows_of(tok)
    batch = collate(rows, tok.pad_token_id, True)
    zeros = torch.zeros(len(rows), 2, 64)
    inj = injector(model, *mode)
    x = prompt_embeds(model, inj, batch, zeros)
    with torch.no_grad():
        hooked = model(inputs_embeds=x, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]).logits
    inj.remove()
    x = model.get_input_embeddings()(batch["ids"]).clone()
    x[torch.arange(len(rows))[:, None], batch["soft"]] = 0.0  # the stock model, no hooks, zero slot rows
    with torch.no_grad():
        stock = model(inputs_embeds=x, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]).logits
    assert torch.equal(hooked, stock)


@pytest.mark.parametrize("n_kv", [4, 2])
def test_from_slot_adds_at_and_after_the_first_slot_and_only_there(n_kv):
    model, tok = tiny_llama(n_kv), word_tokenizer()
    _, rows = rows_of(tok)
    batch = collate(rows, tok.pad_token_id, True)
    e = vectors(len(rows))

    def logits(inj):
        x = prompt_embeds(model, inj, batch, e)
        with torch.no_grad():
            out = model(inputs_embeds=x, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]).logits
        inj.remove()
        return out

    slots, every = logits(injector(model, "slots", False, "none")), logits(injector(model, "from_slot", False, "none"))
    for r in range(len(rows)):
        first, last = int(batch["soft"][r, 0]), int(batch["soft"][r, -1])
        assert torch.equal(every[r, :first], slots[r, :first])  # nothing before the first slot moves
        # after the last slot the slot-only mode adds nothing more; every-position keeps adding
        assert (every[r, last + 1:] - slots[r, last + 1:]).abs().max() > 1e-3


def test_zero_gates_leave_only_the_slot_embedding():
    """LLaMA-Adapter's start: with the gates at zero, a gated mode is the slot embedding alone."""
    model, tok = tiny_llama(2), word_tokenizer()
    _, rows = rows_of(tok)
    batch = collate(rows, tok.pad_token_id, True)
    e = vectors(len(rows))
    outs = []
    for inj in (Injector(model).configure("from_slot", InjectionGates(2).weight).install(), Injector(model)):
        x = prompt_embeds(model, inj, batch, e)
        with torch.no_grad():
            outs.append(model(inputs_embeds=x, attention_mask=batch["attention_mask"],
                              position_ids=batch["position_ids"]).logits)
        inj.remove()
    assert torch.equal(outs[0], outs[1])


def test_gates_and_vectors_get_gradients_and_the_backbone_none():
    model, tok = tiny_llama(2).requires_grad_(False), word_tokenizer()
    _, rows = rows_of(tok)
    gates = InjectionGates(2)
    e = vectors(len(rows)).requires_grad_(True)
    inj = Injector(model).configure("from_slot", gates.weight).install()
    loss = lm_loss(model, inj, collate(rows, tok.pad_token_id, True), e)
    loss.backward()
    inj.remove()
    assert gates.weight.grad.abs().min() > 0  # every layer's q, k and v gate learns from step one
    assert e.grad.abs().max() > 0 and not any(p.grad is not None for p in model.parameters())


def test_token_norm_puts_the_slot_at_the_embedding_scale():
    model = tiny_llama(2)
    inj = Injector(model).configure(slot_scale="token_norm")
    ids = torch.zeros(2, 5, dtype=torch.long)
    pos = torch.tensor([[1, 2], [2, 3]])
    e = vectors(2) * 40.0
    x = inj.inputs_embeds(ids, pos, e)
    norms = x[torch.arange(2)[:, None], pos].norm(dim=-1)
    torch.testing.assert_close(norms, torch.full_like(norms, inj.token_norm))
    with pytest.raises(ValueError, match="slot_scale"):
        inj.configure(slot_scale="huge")
    with pytest.raises(ValueError, match="layers"):
        inj.configure(gates=torch.zeros(5, 3))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n_kv", [4, 2])
def test_batched_generation_equals_each_row_alone(n_kv, mode):
    model, tok = tiny_llama(n_kv), word_tokenizer()
    b, rows = rows_of(tok, with_target=False)
    prefix = PrefixCache(model, shared_prefix(rows, b.prefix_len()))
    e = vectors(len(rows))
    inj = injector(model, *mode)
    together = generate_ids(model, inj, collate(rows, tok.pad_token_id, False, len(prefix)), e, GEN,
                            tok.pad_token_id, tok.eos_token_id, prefix)
    for r in range(len(rows)):
        alone = generate_ids(model, inj, collate(rows[r:r + 1], tok.pad_token_id, False, len(prefix)), e[r:r + 1], GEN,
                             tok.pad_token_id, tok.eos_token_id, prefix)
        assert alone[0].tolist() == together[r].tolist(), f"row {r}"
    inj.remove()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n_kv", [4, 2])
def test_cached_decoding_equals_a_no_cache_recompute_in_every_mode(n_kv, mode):
    """Each generated token is the argmax of one full no-cache forward over prompt + tokens so far
    (no prefix cache either) with the mode's additions: from_slot's decode-step additions are what
    a recompute adds at those positions."""
    model, tok = tiny_llama(n_kv), word_tokenizer()
    b, rows = rows_of(tok, with_target=False)
    prefix = PrefixCache(model, shared_prefix(rows, b.prefix_len()))
    e = vectors(len(rows))
    inj = injector(model, *mode)
    out = generate_ids(model, inj, collate(rows, tok.pad_token_id, False, len(prefix)), e, GEN,
                       tok.pad_token_id, tok.eos_token_id, prefix)
    for r, row in enumerate(rows):
        ids = torch.as_tensor(row.prompt + out[r].tolist())[None]
        pos = torch.as_tensor(row.soft)[None]
        inj.set(pos, e[r:r + 1], ids.shape[1])
        with torch.no_grad():
            logits = model(inputs_embeds=inj.inputs_embeds(ids, pos, e[r:r + 1]), use_cache=False).logits[0]
        inj.clear()
        L = len(row.prompt)
        assert logits[L - 1:L - 1 + GEN["max_new_tokens"]].argmax(-1).tolist() == out[r].tolist(), f"row {r}"
    inj.remove()


@pytest.mark.parametrize("mode", MODES)
def test_prefix_reuse_gives_the_same_loss_in_every_mode(mode):
    model, tok = tiny_llama(2).requires_grad_(False), word_tokenizer()
    b, rows = rows_of(tok)
    prefix = PrefixCache(model, shared_prefix(rows, b.prefix_len()))
    e = vectors(len(rows))
    inj = injector(model, *mode)
    losses = []
    for pre in (None, prefix):
        with torch.no_grad():
            losses.append(float(lm_loss(model, inj, collate(rows, tok.pad_token_id, True, len(pre) if pre else 0), e, pre)))
        inj.clear()
    inj.remove()
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
