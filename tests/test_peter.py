"""PETER baseline: the attention mask, the losses, training on a tiny fixture, greedy generation,
checkpoint resume and determinism."""

import pandas as pd
import pytest
import torch

from seller_core.models.peter import PETER, PETERConfig, peter_loss, peter_mask
from seller_core.train import loop
from seller_core.methods.peter.train import (
    build_vocab, decode, encode, generate_peter, load_peter, save_peter, tokenize, train_peter,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest, and immune to a busy machine; restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# Explanations depend on the item only, so a model that learns anything reproduces them.
ITEM_TEXT = {
    0: "Great pizza with a crispy crust.",
    1: "A quiet cafe for reading.",
    2: "Cheap tacos open late.",
}
CFG = dict(emsize=32, n_heads=2, nhid=64, n_layers=2, dropout=0.0, lr=1.0, lr_decay=0.25, clip=1.0,
           batch_size=8, max_epochs=25, endure=5, max_vocab=100, max_words=8, context_reg=1.0, text_reg=1.0,
           seed=0, log_every=0, device="cpu")


def samples(users, reps=1):
    rows = [(u, i, ITEM_TEXT[i]) for _ in range(reps) for u in users for i in ITEM_TEXT]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "text"])


def test_mask_exact():
    # rows = queries, columns = keys; 0 user, 1 item, 2 <bos>, 3 w1, 4 w2
    expected = torch.tensor([
        [1, 1, 0, 0, 0],  # user sees itself and the item (the one non-causal edge)
        [1, 1, 0, 0, 0],  # item sees the user and itself
        [1, 1, 1, 0, 0],  # text is causal and sees user + item
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
    ], dtype=torch.bool)
    assert torch.equal(peter_mask(5), expected)


def test_forward_respects_mask():
    torch.manual_seed(0)
    m = PETER(PETERConfig(n_users=3, n_items=3, n_tokens=10, max_words=4, emsize=16, n_heads=2, nhid=32, dropout=0.0)).eval()
    u, i = torch.tensor([0]), torch.tensor([1])
    text = torch.tensor([[1, 5, 6, 7]])
    h = m(u, i, text)  # (1, 6, 16)
    # a later word changes nothing at earlier positions
    h2 = m(u, i, torch.tensor([[1, 5, 6, 8]]))
    assert torch.allclose(h[:, :5], h2[:, :5]) and not torch.allclose(h[:, 5], h2[:, 5])
    # the user position sees the item, the item position does not see the text
    h3 = m(u, torch.tensor([2]), text)
    assert not torch.allclose(h[:, 0], h3[:, 0])
    h4 = m(u, i, torch.tensor([[1, 9, 9, 9]]))
    assert torch.allclose(h[:, :3], h4[:, :3])
    # padding keys are ignored: a padded row gives the same states as the unpadded one
    short = m(u, i, torch.tensor([[1, 5]]))
    padded = m(u, i, torch.tensor([[1, 5, 0, 0]]))
    assert torch.allclose(short, padded[:, :4], atol=1e-6)


def test_vocab_and_codec():
    vocab = build_vocab(["b a a", "c a b", "d"], max_vocab=6)
    assert vocab == ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"]  # most frequent first, ties by word
    ids = encode(["a b c", "b"], vocab, max_words=2)
    assert ids.tolist() == [[1, 4, 5, 2], [1, 5, 2, 0]]  # cut to 2 words; pad after <eos>
    assert decode([4, 3, 2, 5], vocab) == "a <unk>"
    assert tokenize("Don't stop, well-loved ok!") == ["don't", "stop", ",", "well-loved", "ok", "!"]
    with pytest.raises(ValueError, match="max_vocab"):
        build_vocab(["a"], max_vocab=4)


def test_context_loss_targets_item_position_bag_of_words():
    torch.manual_seed(0)
    m = PETER(PETERConfig(n_users=2, n_items=2, n_tokens=8, max_words=3, emsize=16, n_heads=2, nhid=32, dropout=0.0)).eval()
    u, i = torch.tensor([0]), torch.tensor([1])
    seq = torch.tensor([[1, 4, 5, 2, 0]])  # <bos> w w <eos> <pad>
    _, _, c = peter_loss(m, u, i, seq)
    logp = torch.log_softmax(m.hidden2token(m(u, i, seq[:, :-1])[:, 1]), -1)[0]  # item position
    assert torch.allclose(c, -(logp[4] + logp[5] + logp[2]) / 3)  # seq[1:-1] without pads, as in PETER


def test_trains_and_generates(tmp_path):
    train, valid = samples(range(6), reps=2), samples([6, 7])
    model, vocab, history, stats = train_peter(train, valid, CFG, n_users=8, n_items=3)
    losses = [h["valid_text_loss"] for h in history]
    assert losses[-1] < 0.5 * losses[0]
    assert min(h["train_text_loss"] for h in history) < history[0]["train_text_loss"]
    assert stats["train_tokens"] > 0 and stats["epochs"] == len(history)
    test = pd.DataFrame({"user_id": [0, 7, 3], "item_id": [0, 1, 2]})
    texts = generate_peter(model, vocab, test)
    assert all(isinstance(t, str) for t in texts)
    assert texts == ["great pizza with a crispy crust.", "a quiet cafe for reading.", "cheap tacos open late."]
    save_peter(model, vocab, history, tmp_path / "m.pt", CFG)
    m2, v2, c2 = load_peter(tmp_path / "m.pt")
    assert v2 == vocab and c2 == CFG and generate_peter(m2, v2, test) == texts


def test_deterministic_and_resumable(tmp_path):
    cfg = {**CFG, "max_epochs": 4, "dropout": 0.2}
    train, valid = samples(range(4)), samples([4])
    a = train_peter(train, valid, cfg)[0]
    b = train_peter(train, valid, cfg)[0]
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    other = train_peter(train, valid, {**cfg, "seed": 1})[0]
    assert not torch.equal(a.user_emb.weight, other.user_emb.weight)
    ck = tmp_path / "ck.pt"
    with pytest.raises(loop.Interrupted):
        train_peter(train, valid, cfg, ckpt_path=ck, fp="x", stop_after=2)
    c, _, hist, _ = train_peter(train, valid, cfg, ckpt_path=ck, fp="x")
    assert len(hist) == 4
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))


def test_bad_input_names_column():
    with pytest.raises(ValueError, match=r"train data lack columns \['text'\]"):
        train_peter(samples([0]).drop(columns="text"), samples([1]), CFG)


def test_rules_write_model_cost_and_explanations(tmp_path):
    """train_peter_rule + explain_peter_rule on tiny stage files: the method-interface file reads back
    with one text per test sample and says where it came from."""
    import json

    from seller_core.explain.interface import read_explanations, read_provenance
    from seller_core.methods.peter.train import explain_peter_rule, train_peter_rule

    frames = {"train": samples(range(6), reps=2), "valid": samples([6, 7]), "test": samples([0, 7])}
    sid, gt_rows = 0, []
    for split, df in frames.items():
        df.insert(0, "sample_id", range(sid, sid + len(df)))
        sid += len(df)
        df["history"] = [[0]] * len(df)
        df.drop(columns="text").to_parquet(tmp_path / f"samples_{split}.parquet")
        gt_rows.append(pd.DataFrame({"sample_id": df["sample_id"], "split": split, "both_text": df["text"],
                                     "backend": "offline", "model": "fixture"}))
    pd.concat(gt_rows).to_parquet(tmp_path / "gt.parquet")
    pd.DataFrame({"user_id": range(8)}).to_parquet(tmp_path / "users.parquet")
    pd.DataFrame({"item_id": range(3)}).to_parquet(tmp_path / "items.parquet")
    inp = {k: tmp_path / f"samples_{k}.parquet" for k in ("train", "valid")}
    inp.update(gt=tmp_path / "gt.parquet", users=tmp_path / "users.parquet", item_table=tmp_path / "items.parquet")
    out = {k: tmp_path / f"peter/{k}" for k in ("model", "history", "cost")}
    ckpt = tmp_path / "ckpt/peter.pt"
    train_peter_rule(inp, out, ckpt, CFG, "both")
    cost = json.loads(out["cost"].read_text())
    assert cost["tokens"] > 0 and cost["wall_seconds"] > 0 and cost["peak_rss_mb"] > 0
    assert not ckpt.exists()  # dropped once the model is written

    ex = {"explanations": tmp_path / "peter.parquet", "cost": tmp_path / "peter.cost.json"}
    explain_peter_rule({"model": out["model"], "test": tmp_path / "samples_test.parquet", "gt": tmp_path / "gt.parquet"},
                       ex, "peter", "synthetic")
    texts = read_explanations(ex["explanations"], frames["test"])
    assert texts == [t.lower() for t in frames["test"]["text"]]
    prov = read_provenance(ex["explanations"])
    assert prov["method"] == "peter" and prov["gt_backend"] == "offline" and prov["gt_kind"] == "both"
