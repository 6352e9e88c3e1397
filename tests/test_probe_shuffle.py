"""Probe.compare_shuffled (issue 20's own-vs-shuffled test): both arms are greedy generations from
the same prompts, the shuffled arm with the vectors permuted so no sample keeps its own; the
paired CIs are over the same samples."""

import copy

import numpy as np
import pytest
import torch

from test_probe import EVAL, make_probe, one_thread, random_vectors, setup  # noqa: F401 (fixtures)
from seller_core.eval.text_metrics import category_hits
from seller_core.models.eer import EER, EERConfig
from seller_core.models.sasrec import load_sasrec


def test_own_arm_is_the_probe_generation_and_the_difference_is_paired(setup):
    n = len(setup["rows"])
    V, vec = random_vectors(n, seed=3)
    probe = make_probe(setup, vec)
    out = probe.compare_shuffled(seed=1)
    assert out["texts"]["own"] == probe.run(0)["texts"]
    targets = [["comedy"]] * n
    a, b = category_hits(out["texts"]["own"], targets), category_hits(out["texts"]["shuffled"], targets)
    assert out["hit_own"] == pytest.approx(a.mean()) and out["hit_shuffled"] == pytest.approx(b.mean())
    assert out["hit_paired"]["diff"] == pytest.approx((a - b).mean())
    assert out["texts"]["shuffled"] != out["texts"]["own"]  # random vectors: some text moves


def test_own_texts_given_are_used_instead_of_a_second_generation(setup):
    """The learning script hands in the probe's own texts: same result as regenerating them, and a
    wrong-length list is refused (it would pair texts with the wrong samples)."""
    n = len(setup["rows"])
    _, vec = random_vectors(n, seed=4)
    probe = make_probe(setup, vec)
    own = probe.run(0)["texts"]
    a, b = probe.compare_shuffled(seed=1), probe.compare_shuffled(seed=1, own_texts=own)
    assert a["texts"] == b["texts"] and a["hit_paired"] == b["hit_paired"]
    fake = ["comedy"] * n  # the own arm is exactly what was handed in
    assert probe.compare_shuffled(seed=1, own_texts=fake)["hit_own"] == 1.0
    with pytest.raises(ValueError, match="own_texts"):
        probe.compare_shuffled(seed=1, own_texts=own[:-1])


def test_identical_vectors_make_both_arms_identical(setup):
    """When every sample has the same vectors, shuffling changes nothing: difference exactly 0."""
    n = len(setup["rows"])
    V = torch.randn(1, 2, 64, generator=torch.Generator().manual_seed(0)).expand(n, 2, 64).contiguous()
    sas = load_sasrec(setup["paths"]["sasrec"])
    eer = EER(copy.deepcopy(sas), EERConfig(e_dim=3, hidden=4)).eval()
    for p in eer.parameters():
        torch.nn.init.normal_(p, std=0.5)
    embed_fn = lambda texts: np.array([[len(t), t.count("o"), 1.0] for t in texts], dtype=np.float32)  # noqa: E731
    probe = make_probe(setup, lambda idx: V[torch.as_tensor(idx)], eer=eer, embed_fn=embed_fn, eval_cfg=EVAL,
                       n_items=12)
    out = probe.compare_shuffled(seed=2)
    assert out["texts"]["own"] == out["texts"]["shuffled"]
    for m in ("hit", "ndcg10"):
        assert out[f"{m}_paired"]["diff"] == 0.0 and not out[f"{m}_paired"]["excludes_zero"]
