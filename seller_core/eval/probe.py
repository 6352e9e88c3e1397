"""A validation probe for adapter-style LLM methods (SEG now; XRec and PEPLER share the machinery).

Called at checkpoints during training (train/adapter_loop.py's `callback`), it answers three
questions about the soft vectors on a fixed, seeded set of VALIDATION samples (never test):

1. Does the LLM use them, and are they sample-specific? Teacher-forced LM loss of the GT
   explanation with each sample's own vectors, with another sample's (rolled by one: sample i gets
   sample i-1's, the other-sample control) and with zero vectors. own < zero says the vectors help
   at all (a format prefix does that); own < rolled (`gap_rolled` > 0) says they carry something
   about this sample.
2. Does greedy generation name the target? Category hit rate, the precision of the category names
   it writes, and how many texts are distinct or empty (a collapsed generator writes one text).
3. Does it help the recommender? The `both` EER's NDCG@10 / Recall@10 of the target given the
   history and the generated text, against an empty explanation's (computed once), so a curve
   shows whether and when the method crosses `empty`.

Nothing here trains or draws random numbers: with the module in eval mode (train_adapter's
callback puts it there) two runs at the same weights return the same row (up to `seconds`).
The text metrics are a pure function (`text_scores`) so they can be checked without a model.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from seller_core.eval import ranking
from seller_core.eval.stats import paired_bootstrap, per_case
from seller_core.eval.text_metrics import category_hits
from seller_core.llm.adapter_train import autocast_for, batch_of, generate_texts, lm_loss
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import Encoded

log = logging.getLogger(__name__)

Vectors = Callable[[np.ndarray], torch.Tensor]  # probe-sample indices (B,) -> soft vectors (B, K, H)


def probe_subset(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """A seeded subset of n rows in file order (the same rows for every checkpoint and every run
    with that seed); n None or >= len keeps all."""
    if n is None or n >= len(df):
        return df.reset_index(drop=True)
    keep = np.sort(np.random.default_rng(seed).choice(len(df), size=int(n), replace=False))
    return df.iloc[keep].reset_index(drop=True)


# ---------------------------------------------------------------- text metrics (no model)
def _pattern(name: str) -> re.Pattern:
    # the whole-phrase, case-insensitive rule of text_metrics.category_hits
    return re.compile(r"(?<!\w)" + re.escape(name.lower()) + r"(?!\w)")


def named_categories(text: str, patterns: dict[str, re.Pattern]) -> set[str]:
    """The vocabulary names (lower case) a text names. A match lying inside a longer name's match
    is not counted on its own ("Wine Bars" names Wine Bars, not also Bars), else every specific name
    would also count as a wrong generic one."""
    low = text.lower()
    spans = [(m.start(), m.end(), name) for name, p in patterns.items() for m in p.finditer(low)]
    found = set()
    for s, e, name in spans:
        if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in spans):
            found.add(name)
    return found


# stock chat-assistant phrases (lower case; a text containing one, case-insensitively, is "stock"):
# a backbone's instruct persona leaking through instead of an explanation
STOCK_PHRASES = ("i'm glad to help", "i am glad to help", "as an ai", "i'm sorry", "i cannot", "i can't help",
                 "happy to help", "i'd be happy", "sure!", "certainly!", "hello!", "how can i help",
                 "i'm here to help")


def text_scores(texts: Sequence[str], target_categories: Sequence[Sequence[str]],
                category_names: Sequence[str], patterns: dict[str, re.Pattern] | None = None) -> dict:
    """Category and diversity metrics of generated texts.

    hit_rate: share of texts naming one of their target's categories (text_metrics.category_hits);
    name_precision: of all (text, vocabulary name) pairs found, the share where the name is one of
    that text's target categories (NaN when no text names any); named_share: share of texts naming
    any vocabulary name; distinct: distinct texts / texts; empty: share of empty texts; stock_share:
    share of texts containing a stock chat-assistant phrase (STOCK_PHRASES, case-insensitive substrings)."""
    n = len(texts)
    if n != len(target_categories):
        raise ValueError(f"{n} texts but {len(target_categories)} target category lists")
    if patterns is None:
        patterns = {c.lower(): _pattern(c) for c in category_names if c}
    hits = category_hits(list(texts), [list(c) for c in target_categories])
    found, right, named = 0, 0, 0
    for t, cats in zip(texts, target_categories):
        names = named_categories(t, patterns)
        own = {c.lower() for c in cats}
        found += len(names)
        right += len(names & own)
        named += bool(names)
    return {
        "hit_rate": float(hits.mean()) if n else float("nan"),
        "name_precision": right / found if found else float("nan"),
        "named_share": named / n if n else float("nan"),
        "distinct": len(set(texts)) / n if n else float("nan"),
        "empty": sum(1 for t in texts if not t) / n if n else float("nan"),
        "stock_share": sum(any(p in t.lower() for p in STOCK_PHRASES) for t in texts) / n if n else float("nan"),
    }


# ---------------------------------------------------------------- the probe
class Probe:
    """One probe over a fixed validation set; `run(step)` returns one row of the learning curve.

    model, tok: the frozen backbone. injector: an Injector (installed for q/k/v injection as in SEG
    and XRec; not installed for PEPLER-style input-embedding-only vectors). rows: the probe samples'
    prompts with target = the GT explanation. vectors(idx) -> (B, K, H) over probe-sample indices
    (`run` may be given another one, e.g. built around the module being trained). target_categories:
    each probe sample's target item's categories; category_names: the dataset's whole category
    vocabulary. samples: the probe samples (history, item_id), row-aligned with rows, for the EER.
    eer + embed_fn (texts -> (n, e_dim) float32) + eval_cfg (mask_history, batch_size): EER scoring,
    skipped when eer is None. gen_cfg: greedy generation settings (batch_size, max_new_tokens, stop).
    zero_is_constant: the zero-vector loss depends only on the frozen LM, so it is computed once
    (False where the LM itself trains, PEPLER's stage 2)."""

    def __init__(self, model, tok, injector, rows: list[Encoded], vectors: Vectors | None,
                 target_categories: Sequence[Sequence[str]], category_names: Sequence[str], gen_cfg: dict, *,
                 samples: pd.DataFrame | None = None, prefix: PrefixCache | None = None, eer=None,
                 embed_fn: Callable[[list[str]], np.ndarray] | None = None, eval_cfg: dict | None = None,
                 n_items: int | None = None, device: str = "cpu", loss_batch: int = 16, n_examples: int = 3,
                 zero_is_constant: bool = True, name: str = "probe"):
        if not rows:
            raise ValueError("a probe needs at least one sample")
        if any(not r.target for r in rows):
            raise ValueError("probe rows need their GT explanation as target (teacher-forced losses)")
        if len(target_categories) != len(rows):
            raise ValueError(f"{len(rows)} probe rows but {len(target_categories)} target category lists")
        if eer is not None:
            if samples is None or embed_fn is None or eval_cfg is None or n_items is None:
                raise ValueError("EER scoring needs samples, embed_fn, eval_cfg and n_items")
            if len(samples) != len(rows):
                raise ValueError(f"{len(rows)} probe rows but {len(samples)} samples")
        self.model, self.tok, self.injector, self.rows = model, tok, injector, rows
        self.vectors, self.prefix, self.device = vectors, prefix, device
        self.targets = [list(c) for c in target_categories]
        self.patterns = {c.lower(): _pattern(c) for c in category_names if c}
        self.gen = dict(gen_cfg)
        self.samples, self.eer, self.embed_fn, self.eval_cfg, self.n_items = samples, eer, embed_fn, eval_cfg, n_items
        self.n_examples, self.zero_is_constant, self.name = n_examples, zero_is_constant, name
        # length-sorted loss batches: less padding; the token-weighted mean does not depend on the grouping
        order = np.argsort([len(r.prompt) + len(r.target) for r in rows], kind="stable")
        self.loss_batches = [order[s:s + loss_batch] for s in range(0, len(order), loss_batch)]
        self._loss_zero = None
        self._empty = None

    def __len__(self) -> int:
        return len(self.rows)

    # ---- teacher-forced losses
    @torch.no_grad()
    def loss(self, V: torch.Tensor) -> float:
        """Token-weighted mean LM loss of the GT explanations given soft vectors V (n, K, H), row i
        for probe sample i (lm_loss's per-batch mean, weighted by the batch's label tokens)."""
        total, count = 0.0, 0
        for idx in self.loss_batches:
            batch = batch_of([self.rows[i] for i in idx], self.tok.pad_token_id, self.device, True, self.prefix)
            n_lab = int((batch["labels"][:, 1:] != -100).sum())
            try:
                with autocast_for(self.device):
                    total += float(lm_loss(self.model, self.injector, batch, V[torch.as_tensor(idx)], self.prefix)) * n_lab
            finally:
                if self.injector is not None:
                    self.injector.clear()  # an injector's hooks must find no stale context of ours
            count += n_lab
        return total / count

    def all_vectors(self, vectors: Vectors) -> torch.Tensor:
        """(n, K, H) for every probe sample, 64 at a time (a batch of long histories' features is
        the memory peak)."""
        with torch.no_grad():
            parts = [vectors(np.arange(s, min(s + 64, len(self)))) for s in range(0, len(self), 64)]
        return torch.cat(parts).detach()

    # ---- EER utility
    def eer_metrics(self, texts: list[str]) -> dict:
        """NDCG@10 / Recall@10 of the EER given each probe sample's text."""
        emb = self.embed_fn(texts)  # (n, e_dim)
        ranks = ranking.model_ranks(self.eer, self.samples, self.n_items, self.eval_cfg, cond=emb)
        m = ranking.metrics_from_ranks(ranks, [10])
        return {"ndcg10": m["ndcg@10"], "recall10": m["recall@10"]}

    def empty_reference(self) -> dict:
        if self._empty is None:  # the EER is frozen: the empty explanation's score is one number
            self._empty = self.eer_metrics([""] * len(self))
        return self._empty

    # ---- one checkpoint
    def run(self, step: int, vectors: Vectors | None = None) -> dict:
        t0 = time.perf_counter()
        vectors = vectors or self.vectors
        if vectors is None:
            raise ValueError("no vectors function given (neither at construction nor to run)")
        V = self.all_vectors(vectors)  # (n, K, H)
        row = {"step": int(step), "n": len(self)}
        row["loss_own"] = self.loss(V)
        # sample i gets sample i-1's vectors: same distribution of vectors, wrong sample
        row["loss_rolled"] = self.loss(torch.roll(V, shifts=1, dims=0))
        if self._loss_zero is None or not self.zero_is_constant:
            self._loss_zero = self.loss(torch.zeros_like(V))
        row["loss_zero"] = self._loss_zero
        row["gap_rolled"] = row["loss_rolled"] - row["loss_own"]
        row["gap_zero"] = row["loss_zero"] - row["loss_own"]
        row["vector_norm"] = float(V.norm(dim=-1).mean())  # mean L2 norm of a soft vector
        # spread across samples: mean distance to the set's mean vector, per slot
        row["vector_spread"] = float((V - V.mean(0, keepdim=True)).norm(dim=-1).mean())
        t_loss = time.perf_counter()
        texts, counts = generate_texts(self.model, self.tok, self.injector, self.rows, lambda idx: V[torch.as_tensor(idx)],
                                       self.gen, self.device, f"{self.name} step {step}", self.prefix)
        row.update(text_scores(texts, self.targets, (), self.patterns))
        row["new_tokens"] = counts["new_tokens"]
        t_gen = time.perf_counter()
        if self.eer is not None:
            e = self.eer_metrics(texts)
            row["eer_ndcg10"], row["eer_recall10"] = e["ndcg10"], e["recall10"]
            ref = self.empty_reference()
            row["eer_ndcg10_empty"], row["eer_recall10_empty"] = ref["ndcg10"], ref["recall10"]
        # examples: the first few samples' texts (the same samples at every checkpoint)
        row["examples"] = texts[: self.n_examples]
        row["texts"] = texts
        t1 = time.perf_counter()
        row["loss_seconds"] = round(t_loss - t0, 2)
        row["generate_seconds"] = round(t_gen - t_loss, 2)
        row["eer_seconds"] = round(t1 - t_gen, 2)
        row["seconds"] = round(t1 - t0, 2)
        return row

    # ---- do the vectors carry the sample? (issue 20's acceptance test, on validation)
    def compare_shuffled(self, vectors: Vectors | None = None, seed: int = 0, n_boot: int = 2000,
                         own_texts: list[str] | None = None) -> dict:
        """Greedy texts with each sample's own vectors and with the vectors permuted within the set
        (seeded; a derangement, so no sample keeps its own), then per sample: category hit and,
        with an EER, NDCG@10; the paired-bootstrap CI of own - shuffled for each. The prompts'
        text is the same in both arms: only the vectors move. own_texts: the own arm's greedy texts
        when the caller has just generated them with these vectors (run()'s), so they are not paid twice."""
        vectors = vectors or self.vectors
        V = self.all_vectors(vectors)  # (n, K, H)
        n = len(self)
        rng = np.random.default_rng(seed)
        perm = rng.permutation(n)
        while n > 1 and (perm == np.arange(n)).any():  # redraw until no sample keeps its own vectors
            perm = rng.permutation(n)
        arms = {"own": V, "shuffled": V[torch.as_tensor(perm)]}
        out, per = {"n": n, "seed": seed}, {}
        for arm, W in arms.items():
            if arm == "own" and own_texts is not None:
                if len(own_texts) != n:
                    raise ValueError(f"own_texts has {len(own_texts)} texts for {n} probe samples")
                texts = list(own_texts)
            else:
                texts, _ = generate_texts(self.model, self.tok, self.injector, self.rows,
                                          lambda idx, W=W: W[torch.as_tensor(idx)], self.gen, self.device,
                                          f"{self.name} {arm}", self.prefix)
            per[arm] = {"hit": category_hits(texts, self.targets), "texts": texts}
            out[f"{arm}_distinct"] = len(set(texts)) / n
            if self.eer is not None:
                ranks = ranking.model_ranks(self.eer, self.samples, self.n_items, self.eval_cfg, cond=self.embed_fn(texts))
                per[arm]["ndcg10"] = per_case(ranks, "ndcg@10")
        for metric in ("hit", "ndcg10"):
            if metric not in per["own"]:
                continue
            a, b = per["own"][metric], per["shuffled"][metric]
            out[f"{metric}_own"], out[f"{metric}_shuffled"] = float(np.mean(a)), float(np.mean(b))
            out[f"{metric}_paired"] = paired_bootstrap(a, b, n_boot=n_boot, seed=seed)
        if self.eer is not None:
            out["ndcg10_empty"] = self.empty_reference()["ndcg10"]
        out["texts"] = {arm: per[arm]["texts"] for arm in per}
        return out
