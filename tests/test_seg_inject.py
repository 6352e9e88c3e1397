"""Soft tokens + q/k/v injection (seller_core/llm/inject.py) on tiny random LLaMA models with full
multi-head attention (the LLaMA-2-7B shape, scaled down) and with grouped-query attention (SmolLM2)."""

import pytest
import torch

from seg_fixtures import tiny_llama, word_tokenizer
from seller_core.llm.generate import generate_ids
from seller_core.llm.inject import Injector, group_mean, prompt_embeds
from seller_core.llm.prompting import PromptBuilder, collate

KV = [4, 2]  # 4 = MHA (4 q heads), 2 = GQA (2 q heads per kv head)


def batch_of(tok, cats, explanations=None, slots=("rec", "sem")):
    b = PromptBuilder(tok, "say what the user is looking for", list(slots))
    rows = [b.encode(c, None if explanations is None else x) for c, x in zip(cats, explanations or cats)]
    return b, rows, collate(rows, tok.pad_token_id, with_target=explanations is not None)


def forward_logits(model, inj, batch, e):
    x = prompt_embeds(model, inj, batch, e)
    with torch.no_grad():
        out = model(inputs_embeds=x, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]).logits
    inj.clear()
    return out


@pytest.mark.parametrize("n_kv", KV)
def test_zero_vectors_reproduce_stock_logits_exactly(n_kv):
    model, tok = tiny_llama(n_kv), word_tokenizer()
    _, _, batch = batch_of(tok, ["comedy", "sushi , games , pets", "food"])
    B, K = batch["soft"].shape
    zeros = torch.zeros(B, K, model.config.hidden_size)
    inj = Injector(model).install()
    with_hooks = forward_logits(model, inj, batch, zeros)
    inj.remove()
    # the stock model, no hooks, given the same input embeddings (zero rows at the soft slots)
    x = model.get_input_embeddings()(batch["ids"]).clone()
    x[torch.arange(B)[:, None], batch["soft"]] = 0.0
    with torch.no_grad():
        stock = model(inputs_embeds=x, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]).logits
    assert torch.equal(with_hooks, stock)


@pytest.mark.parametrize("n_kv", KV)
def test_vectors_change_logits_from_their_position_on_only(n_kv):
    model, tok = tiny_llama(n_kv), word_tokenizer()
    _, _, batch = batch_of(tok, ["comedy", "sushi , games"])
    B, K = batch["soft"].shape
    inj = Injector(model).install()
    base = forward_logits(model, inj, batch, torch.zeros(B, K, 64))
    torch.manual_seed(1)
    e = torch.randn(B, K, 64)
    hit = forward_logits(model, inj, batch, e)
    for b in range(B):
        first = int(batch["soft"][b, 0])
        assert torch.equal(hit[b, :first], base[b, :first])  # causal: nothing before the first soft token moves
        assert (hit[b, first:] - base[b, first:]).abs().max() > 1e-3
    # the q/k/v additions matter on their own, beyond the input-embedding slot
    inj_only_embed = forward_logits(model, Injector(model), batch, e)  # hooks not installed
    assert (hit - inj_only_embed).abs().max() > 1e-3


def test_group_mean_is_identity_for_mha_and_head_aligned_for_gqa():
    e = torch.randn(3, 2, 4 * 8)
    assert torch.equal(group_mean(e, n_kv_heads=4, head_dim=8), e)
    g = group_mean(e, n_kv_heads=2, head_dim=8)  # q heads (0,1) -> kv head 0, (2,3) -> kv head 1
    assert g.shape == (3, 2, 16)
    assert torch.allclose(g[..., :8], (e[..., 0:8] + e[..., 8:16]) / 2)
    assert torch.allclose(g[..., 8:], (e[..., 16:24] + e[..., 24:32]) / 2)


@pytest.mark.parametrize("n_kv", KV)
def test_widths_are_read_from_the_modules(n_kv):
    inj = Injector(tiny_llama(n_kv))
    assert inj.hidden == 64 and inj.head_dim == 16 and inj.n_kv_heads == n_kv
    with pytest.raises(ValueError, match="wide"):
        inj.set(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2, 32), 5)


def test_remove_restores_the_stock_model_and_batch_mismatch_is_refused():
    model, tok = tiny_llama(2), word_tokenizer()
    _, _, batch = batch_of(tok, ["comedy", "food"])
    stock = forward_logits(model, Injector(model), batch, None)
    inj = Injector(model).install()
    assert sum(len(m._forward_hooks) for m in model.modules()) == 3 * 2
    # a context for 2 rows against a 4-row activation (what beams would do) must fail loudly
    inj.set(batch["soft"], torch.randn(2, 2, 64), batch["ids"].shape[1])
    x = model.get_input_embeddings()(batch["ids"].repeat(2, 1))
    with pytest.raises(RuntimeError, match="beams"):
        model(inputs_embeds=x, attention_mask=batch["attention_mask"].repeat(2, 1))
    inj.remove()
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
    assert torch.equal(forward_logits(model, Injector(model), batch, None), stock)


@pytest.mark.parametrize("n_kv", KV)
def test_batched_generation_of_a_row_equals_its_unbatched_generation(n_kv):
    model, tok = tiny_llama(n_kv), word_tokenizer()
    cats = ["comedy", "sushi , games , pets , fashion", "food , music"]  # different lengths: left padding
    _, rows, batch = batch_of(tok, cats)
    torch.manual_seed(2)
    e = torch.randn(len(cats), 2, 64) * 0.5
    inj = Injector(model).install()
    gen = {"max_new_tokens": 8}
    together = generate_ids(model, inj, batch, e, gen, tok.pad_token_id, tok.eos_token_id)
    for i in range(len(cats)):
        alone = generate_ids(model, inj, collate([rows[i]], tok.pad_token_id, False), e[i:i + 1], gen,
                             tok.pad_token_id, tok.eos_token_id)
        n = alone.shape[1]
        assert torch.equal(together[i, :n], alone[0]), f"row {i}"
    # and the soft vectors do steer generation
    other = generate_ids(model, inj, batch, torch.zeros_like(e), gen, tok.pad_token_id, tok.eos_token_id)
    assert not torch.equal(other, together)


def test_prompt_segments_labels_and_positions():
    for chat in (False, True):
        tok = word_tokenizer(chat)
        b, rows, batch = batch_of(tok, ["comedy", "sushi , games , pets"], ["more comedy like this", "sushi"])
        assert rows[0].prompt[:b.prefix_len()] == rows[1].prompt[:b.prefix_len()]  # shared prefix
        for r in rows:
            assert [r.prompt[p] for p in r.soft] == [tok.eos_token_id] * 2
            assert r.target[-1] == tok.eos_token_id
        T = batch["ids"].shape[1]
        for i, r in enumerate(rows):
            n = len(r.prompt) + len(r.target)
            lab = batch["labels"][i]
            assert lab[: T - len(r.target)].eq(-100).all()  # pads and prompt: no loss
            assert lab[T - len(r.target):].tolist() == r.target  # explanation + end token
            assert batch["position_ids"][i, T - n:].tolist() == list(range(n))
            assert batch["attention_mask"][i].sum() == n
            assert batch["ids"][i, batch["soft"][i]].eq(tok.eos_token_id).all()
