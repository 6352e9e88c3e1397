"""The shared full-ranking protocol on hand-computed cases, ties included."""

import math

import numpy as np
import pytest
import torch

from seller_core.eval import ranking


def test_pessimistic_ties_hand_computed():
    scores = torch.tensor([[0.1, 0.5, 0.3, 0.5, 0.2]])
    # target 1 ties with item 3: the tie counts against it -> rank 2, not 1
    assert ranking.ranks_from_scores(scores, torch.tensor([1])).tolist() == [2]
    assert ranking.ranks_from_scores(scores, torch.tensor([3])).tolist() == [2]
    # target 2: items 1 and 3 are above -> rank 3
    assert ranking.ranks_from_scores(scores, torch.tensor([2])).tolist() == [3]
    # target 0 is the lowest -> last of 5
    assert ranking.ranks_from_scores(scores, torch.tensor([0])).tolist() == [5]


def test_all_equal_scores_rank_last_not_first():
    scores = torch.zeros(2, 7)
    assert ranking.ranks_from_scores(scores, torch.tensor([0, 6])).tolist() == [7, 7]


def test_history_mask_drops_items_but_never_the_target():
    scores = torch.tensor([[0.9, 0.5, 0.8, 0.1], [0.9, 0.5, 0.8, 0.1]])
    exclude = ranking.history_mask([[0, 2], [0, 1]], 4)
    assert exclude.tolist() == [[True, False, True, False], [True, True, False, False]]
    # case 0: items 0, 2 masked -> target 1 is first; case 1: target 1 is in the history yet stays a candidate
    assert ranking.ranks_from_scores(scores, torch.tensor([1, 1]), exclude).tolist() == [1, 2]
    assert ranking.ranks_from_scores(scores, torch.tensor([1, 1])).tolist() == [3, 3]


def test_nan_scores_are_an_error():
    with pytest.raises(ValueError, match="NaN"):
        ranking.ranks_from_scores(torch.tensor([[0.1, float("nan")]]), torch.tensor([0]))


def test_metrics_hand_computed():
    ranks = np.array([1, 2, 6, 11])
    m = ranking.metrics_from_ranks(ranks, ks=(5, 10))
    assert m["recall@5"] == pytest.approx(2 / 4)
    assert m["recall@10"] == pytest.approx(3 / 4)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(7)) / 4)
    with pytest.raises(ValueError, match="unknown metric"):
        ranking.per_case(ranks, "mrr@10")


def test_rank_cases_batches_agree_and_check_ids():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(37, 11, generator=gen).round(decimals=1)  # rounding makes ties
    targets = np.arange(37) % 11
    hist = [[(i + 1) % 11, (i + 3) % 11] for i in range(37)]
    whole = ranking.ranks_from_scores(scores, torch.as_tensor(targets)).numpy()
    for bs in (1, 5, 64):
        got = ranking.rank_cases(lambda sl: scores[sl], targets, 11, hist, False, bs)
        assert (got == whole).all()
    masked = ranking.rank_cases(lambda sl: scores[sl], targets, 11, hist, True, 8)
    assert (masked <= whole).all() and (masked < whole).any()
    with pytest.raises(ValueError, match="target ids"):
        ranking.rank_cases(lambda sl: scores[sl], np.array([11]), 11)
    with pytest.raises(ValueError, match="expected"):
        ranking.rank_cases(lambda sl: scores[sl][:, :5], targets, 11)


def test_bootstrap_ci_and_paired_test():
    rng = np.random.default_rng(1)
    a = rng.random(500)
    ci = ranking.bootstrap_ci(a, n_boot=500, seed=0)
    assert ci["lo"] < a.mean() < ci["hi"]
    assert ranking.bootstrap_ci(a, n_boot=500, seed=0) == ci  # seeded

    same = ranking.paired_bootstrap(a, a, n_boot=500)
    assert same["diff"] == 0 and not same["excludes_zero"]
    better = ranking.paired_bootstrap(a + 0.1, a, n_boot=500)
    assert better["excludes_zero"] and better["lo"] > 0 and better["diff"] == pytest.approx(0.1)
    noise = ranking.paired_bootstrap(a, rng.permutation(a), n_boot=500)
    assert noise["lo"] < 0 < noise["hi"]
    with pytest.raises(ValueError, match="differ in size"):
        ranking.paired_bootstrap(a, a[:-1])


def test_compare_is_per_metric():
    ra, rb = np.array([1, 1, 3, 20]), np.array([2, 7, 3, 20])
    out = ranking.compare(ra, rb, ks=(5, 10), n_boot=200, seed=0, alpha=0.05)
    assert set(out) == {"recall@5", "recall@10", "ndcg@5", "ndcg@10"}
    assert out["recall@5"]["diff"] == pytest.approx(0.25)


def test_over_seeds_one_run_is_that_runs_bootstrap_and_two_runs_average_per_case():
    rng = np.random.default_rng(0)
    a, b = rng.random(200), rng.random(200)
    one = ranking.over_seeds({"x": [a]}, 500, 3, 0.05)
    assert one["ci"]["x"] == ranking.bootstrap_ci(a, 500, 3, 0.05) and one["std"]["x"] is None
    two = ranking.over_seeds({"x": [a, b]}, 500, 3, 0.05)
    assert two["metrics"]["x"] == pytest.approx((a.mean() + b.mean()) / 2)
    assert two["std"]["x"] == pytest.approx(abs(a.mean() - b.mean()) / math.sqrt(2))
    assert two["ci"]["x"] == ranking.bootstrap_ci((a + b) / 2, 500, 3, 0.05)  # CI over cases of the seed mean
    assert two["per_seed"]["x"] == pytest.approx([a.mean(), b.mean()])


def test_compare_runs_averages_each_side_over_its_seeds():
    a1, a2, b = np.array([1, 3, 20, 2]), np.array([2, 1, 1, 30]), np.array([5, 5, 5, 5])
    got = ranking.compare_runs([a1, a2], [b], [5], 200, 0, 0.05)["recall@5"]
    # recall@5 per case: a1 -> 1,1,0,1; a2 -> 1,1,1,0; mean -> 1,1,.5,.5; b -> 1 everywhere
    assert got["diff"] == pytest.approx(-0.25)
    assert ranking.compare_runs([a1], [b], [5], 200, 0, 0.05) == ranking.compare(a1, b, [5], 200, 0, 0.05)
