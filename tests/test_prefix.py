"""Shared-prefix reuse (seller_core/llm/prefix.py): the cached prefix + [pad | suffix] batch gives
what the whole left-padded rows give — loss, adapter gradients, greedy generations — on tiny random
LLaMAs with full multi-head and grouped-query attention, with ragged rows and nonzero vectors."""

import pytest
import torch

from seg_fixtures import tiny_llama, word_tokenizer
from seller_core.llm.adapter_train import lm_loss
from seller_core.llm.generate import generate_ids
from seller_core.llm.inject import Injector, prompt_embeds
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import PromptBuilder, collate, shared_prefix

KV = [4, 2]
CATS = ["comedy", "sushi , games , pets , fashion", "food , music", "travel"]  # ragged: different lengths
EXPL = ["more comedy like this", "sushi", "something new in food and music worth my time", "travel"]


def rows_of(tok, with_target=True, chat=False):
    b = PromptBuilder(tok, "say what the user is looking for", ["rec", "sem"])
    rows = [b.encode(c, x if with_target else None) for c, x in zip(CATS, EXPL)]
    return b, rows


class TinyAdapter(torch.nn.Module):
    """Stands in for SEG's adapter: per-sample features -> (B, 2, H) vectors with parameters."""

    def __init__(self, hidden=64):
        super().__init__()
        torch.manual_seed(3)
        self.lin = torch.nn.Linear(8, 2 * hidden)
        self.feat = torch.randn(len(CATS), 8)

    def forward(self, idx):
        return self.lin(self.feat[idx]).view(len(idx), 2, -1)


@pytest.mark.parametrize("chat", [False, True])
@pytest.mark.parametrize("n_kv", KV)
def test_prefix_reuse_gives_the_same_loss_and_adapter_gradients(n_kv, chat):
    model, tok = tiny_llama(n_kv).requires_grad_(False), word_tokenizer(chat)
    b, rows = rows_of(tok, chat=chat)
    P = b.prefix_len()
    assert P > 3
    prefix = PrefixCache(model, shared_prefix(rows, P))
    inj = Injector(model).install()
    adapter = TinyAdapter()
    idx = list(range(len(rows)))
    grads, losses = [], []
    for pre in (None, prefix):
        adapter.zero_grad(set_to_none=True)
        batch = collate(rows, tok.pad_token_id, True, len(pre) if pre else 0)
        loss = lm_loss(model, inj, batch, adapter(idx), pre)
        loss.backward()
        inj.clear()
        losses.append(loss.item())
        grads.append([p.grad.clone() for p in adapter.parameters()])
    inj.remove()
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for g0, g1 in zip(*grads):
        assert g0.abs().max() > 0
        torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-6)
    assert not any(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("n_kv", KV)
def test_prefix_reuse_gives_the_same_greedy_generations(n_kv):
    model, tok = tiny_llama(n_kv), word_tokenizer()
    b, rows = rows_of(tok, with_target=False)
    prefix = PrefixCache(model, shared_prefix(rows, b.prefix_len()))
    torch.manual_seed(2)
    e = torch.randn(len(rows), 2, 64) * 0.5
    gen = {"max_new_tokens": 10, "min_new_tokens": 10}
    with Injector(model) as inj:
        whole = generate_ids(model, inj, collate(rows, tok.pad_token_id, False), e, gen, tok.pad_token_id,
                             tok.eos_token_id)
        reused = generate_ids(model, inj, collate(rows, tok.pad_token_id, False, len(prefix)), e, gen,
                              tok.pad_token_id, tok.eos_token_id, prefix)
        twice = generate_ids(model, inj, collate(rows, tok.pad_token_id, False, len(prefix)), e, gen,
                             tok.pad_token_id, tok.eos_token_id, prefix)  # the cache is fresh per call
    assert torch.equal(whole, reused)
    assert torch.equal(reused, twice)
    # and the vectors still steer it
    with Injector(model) as inj:
        zero = generate_ids(model, inj, collate(rows, tok.pad_token_id, False, len(prefix)), torch.zeros_like(e), gen,
                            tok.pad_token_id, tok.eos_token_id, prefix)
    assert not torch.equal(zero, reused)


# cached decoding = a no-cache recompute: tests/test_inject_modes.py, for every injection mode


@pytest.mark.parametrize("n_kv", KV)
def test_zero_vectors_with_prefix_reproduce_the_stock_model_exactly(n_kv):
    model, tok = tiny_llama(n_kv), word_tokenizer()
    b, rows = rows_of(tok)
    prefix = PrefixCache(model, shared_prefix(rows, b.prefix_len()))
    batch = collate(rows, tok.pad_token_id, True, len(prefix))
    zeros = torch.zeros(len(rows), 2, 64)

    def hidden(inj, e):
        x = prompt_embeds(model, inj, batch, e)
        with torch.no_grad():
            h = model.get_decoder()(inputs_embeds=x, attention_mask=batch["attention_mask"],
                                    position_ids=batch["position_ids"], cache=prefix.cache(len(rows)),
                                    use_cache=True).last_hidden_state
        inj.clear()
        return h

    with Injector(model) as inj:
        with_hooks = hidden(inj, zeros)
    stock = hidden(Injector(model), zeros)  # not installed: the slots' zero embedding only
    assert torch.equal(with_hooks, stock)


def test_rows_without_a_shared_prefix_are_refused():
    tok = word_tokenizer()
    b, rows = rows_of(tok)
    rows[1].prompt[0] = rows[1].prompt[0] + 1
    with pytest.raises(ValueError, match="row 1"):
        collate(rows, tok.pad_token_id, True, b.prefix_len())
    _, rows = rows_of(tok)
    with pytest.raises(ValueError, match="soft slot"):
        collate(rows, tok.pad_token_id, True, b.prefix_len() + 1)


def test_prefix_layout_mask_positions_and_slots():
    tok = word_tokenizer()
    b, rows = rows_of(tok)
    P = b.prefix_len()
    batch = collate(rows, tok.pad_token_id, True, P)
    S = batch["ids"].shape[1]
    assert batch["attention_mask"].shape == (len(rows), P + S)
    for i, r in enumerate(rows):
        n = len(r.prompt) + len(r.target) - P
        assert batch["attention_mask"][i, :P].eq(1).all() and batch["attention_mask"][i, P:P + S - n].eq(0).all()
        assert batch["position_ids"][i, S - n:].tolist() == list(range(P, P + n))
        assert batch["ids"][i, batch["soft"][i]].eq(tok.eos_token_id).all()
        assert batch["labels"][i, S - len(r.target):].tolist() == r.target


def test_stop_rule_cuts_after_the_text_starts():
    from seller_core.llm.generate import clean_text

    assert clean_text("\n\nmore sushi like this\nQ: next", ["\n"]) == "more sushi like this"  # a leading newline is no end
    assert clean_text("  A:\nthe rest", ["\n"]) == "A:"
    assert clean_text("one  line\t here", ["\n"]) == "one line here"
    assert clean_text("\n \n", ["\n"]) == ""
