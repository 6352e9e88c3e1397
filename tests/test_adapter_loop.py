"""The shared adapter loop's step-level hooks (train/adapter_loop.py): the learning-rate schedule,
the step callback (a probe must not change the weights), and max_steps over a pool larger than
the steps read (distinct samples, never recycled) with a schedule that resumes after a kill."""

import numpy as np
import pytest
import torch

from seg_fixtures import make_dataset, save_backbone, seg_cfg
from seller_core.train.adapter_loop import lr_lambda, train_adapter
from seller_core.llm.backbone import load_backbone
from seller_core.models.sasrec import load_sasrec
from seller_core.train import loop
from seller_core.train.loop import Interrupted
from seller_core.methods.seller.train import read_seg_samples, train_seg


def test_lr_schedule_shapes():
    const = lr_lambda(100, 0, "constant", 0.0)
    assert [const(s) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]  # today's fixed lr, exactly
    warm = lr_lambda(100, 10, "linear", 0.0)
    assert warm(0) == pytest.approx(0.1) and warm(9) == pytest.approx(1.0)
    assert warm(55) == pytest.approx(0.5) and warm(100) == pytest.approx(0.0)
    cos = lr_lambda(100, 0, "cosine", 0.1)
    assert cos(0) == pytest.approx(1.0) and cos(50) == pytest.approx(0.55) and cos(100) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="lr_decay"):
        lr_lambda(10, 0, "step", 0.0)


class Toy(torch.nn.Module):
    """A loss over sample indices with dropout (so an RNG draw in a callback would show)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(4, 1)
        self.drop = torch.nn.Dropout(0.5)

    def step_loss(self, x, seen):
        def fn(idx):
            seen.append(list(idx))
            y = self.drop(self.w(x[idx])).pow(2).mean()
            return y, {"attention_mask": torch.ones(len(idx), 3), "labels": torch.ones(len(idx), 3)}
        return fn


def run_toy(cfg, callback=None, every=0, ckpt=None, stop_after=None):
    rng = loop.RNG(0)
    toy = Toy()
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(1))
    seen, lrs = [], []
    hist, counts = train_adapter(toy, 40, toy.step_loss(x, seen), {"log_every": 100, "weight_decay": 0.0, **cfg}, rng,
                                 device="cpu", name="toy", callback=callback, callback_every=every, ckpt_path=ckpt,
                                 fp="t", stop_after=stop_after)
    return toy, seen, hist, counts


def test_callback_steps_and_no_effect_on_the_weights():
    cfg = {"lr": 0.05, "batch_size": 4, "epochs": 2}
    ref, _, _, _ = run_toy(cfg)
    calls = []

    def cb(step):
        calls.append(step)
        torch.rand(100)  # a probe that draws randomness must not shift the training's dropout
        np.random.default_rng().random()

    got, _, _, counts = run_toy(cfg, cb, every=3)
    assert calls == [0, 3, 6, 9, 12, 15, 18, 20]  # step 0, every 3, and the last (20 = 2 epochs x 10)
    assert counts["steps"] == 20
    for a, b in zip(ref.state_dict().values(), got.state_dict().values()):
        assert torch.equal(a, b)


def test_max_steps_reads_distinct_samples_of_a_larger_pool():
    toy, seen, hist, counts = run_toy({"lr": 0.05, "batch_size": 4, "epochs": 3, "max_steps": 7})
    assert counts["steps"] == 7 and len(hist) == 1 and hist[0]["steps"] == 7
    flat = [i for b in seen for i in b]
    assert len(flat) == len(set(flat)) == 28  # 7 x 4 distinct samples of the 40


def test_schedule_state_resumes_after_a_kill(tmp_path):
    cfg = {"lr": 0.05, "batch_size": 4, "epochs": 3, "warmup_steps": 5, "lr_decay": "cosine"}
    ref, _, ref_hist, _ = run_toy(cfg)
    ckpt = tmp_path / "toy.pt"
    with pytest.raises(Interrupted):
        run_toy(cfg, ckpt=ckpt, stop_after=1)
    got, _, hist, counts = run_toy(cfg, ckpt=ckpt)
    assert counts["steps"] == 20 and [h["loss"] for h in hist] == [h["loss"] for h in ref_hist]
    for a, b in zip(ref.state_dict().values(), got.state_dict().values()):
        assert torch.equal(a, b)


def test_seg_with_a_probe_trains_the_same_weights(tmp_path):
    """Through SEG's trainer: the callback gets the adapter and the prefix cache, and probing every
    step (a teacher-forced forward with the adapter) leaves the trained weights bit-identical."""
    paths = make_dataset(tmp_path)
    backbone = save_backbone(tmp_path, 2, chat=True)
    model, tok = load_backbone(backbone, "cpu", "float32")
    df = read_seg_samples(paths["train"], paths["category_texts"], paths["gt"], 12, "both")
    sas, emb = load_sasrec(paths["sasrec"]), np.load(paths["item_text_emb"])
    cfg = seg_cfg(epochs=2)
    ref, _, _ = train_seg(model, tok, sas, emb, df, cfg, "cpu")
    seen = []

    def probe(step, adapter, prefix):
        assert not adapter.training and prefix is not None and len(prefix) > 0
        seen.append(step)

    got, _, counts = train_seg(model, tok, sas, emb, df, cfg, "cpu", callback=probe, callback_every=1)
    assert seen == list(range(counts["steps"] + 1))
    for (k, a), b in zip(ref.state_dict().items(), got.state_dict().values()):
        assert torch.equal(a, b), k
