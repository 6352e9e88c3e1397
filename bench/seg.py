"""SEG's cost against the bare frozen LLM, on the offline backbone, in one process.

    .venv/bin/python bench/seg.py [--backbone resources/llm/smollm2-135m --threads 2 --reps 5]

(Prepare the backbone first: snakemake --cores 1 resources/llm/smollm2-135m. On a 2-core machine
that other jobs are using, pass --threads 1.)

1. Training step, batch 8 x ~96 tokens (random item sequences, GT-like explanations):
   - SEG: dual-path encoder + MoE adapter -> soft tokens + q/k/v injection hooks -> frozen LLM
     forward/backward (loss on the explanation tokens) -> Adam on the adapter;
   - bare: the same batch through the same frozen LLM with no hooks, the two soft-slot input
     embeddings being the only trainable tensor (the least any method that trains through a
     frozen LLM must pay: a full backward through it) -> Adam on them.
2. Generation, 16 prompts x 40 new tokens (min = max, so both make exactly the same number):
   - SEG: adapter + injection, left-padded batch, greedy;
   - bare: `generate` on the same prompt embeddings with no hooks installed.
Runs are interleaved (bare, SEG, bare, SEG, ...) and the medians compared. Prints seconds,
tokens/s, peak RSS and the speed ratios bare_time / seg_time (target >= 0.9).
"""

import argparse
import resource
import statistics
import time

import numpy as np
import torch

from seller_core.llm.backbone import load_backbone
from seller_core.llm.generate import generate_ids
from seller_core.llm.inject import Injector
from seller_core.llm.prompting import collate
from seller_core.models.sasrec import SASRec, SASRecConfig
from seller_core.models.seg import SEGAdapter, SequenceFeatures
from seller_core.llm.adapter_train import lm_loss
from seller_core.train.seg_train import prompt_builder, seg_config

CFG = dict(kind="both", behaviour="contextual", system_prompt="Say in one line what the user is looking for in the last item.",
           max_target_tokens=64, max_category_tokens=32, use_rec=True, use_sem=True, use_categories=True, d=64,
           n_layers=2, n_heads=4, d_ff=256, encoder_dropout=0.1, n_experts=8, expert_hidden=256, expert_dropout=0.2,
           init_std=0.02, pool="mean", lr=1e-4, weight_decay=1e-6, batch_size=8, seed=0)
WORDS = ("more sushi bars like this; a calm way to find escape; the best comedy right now; looking for warm "
         "inspiration during a commute, nothing too serious; well-loved grocery for this weekend").split()


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fake_rows(rng, n, n_items):
    seqs = [rng.choice(n_items, size=int(rng.integers(5, 51)), replace=False).tolist() for _ in range(n)]
    cats = [", ".join(rng.choice(["Bars", "Sushi", "Comedy", "Grocery", "Parks"], size=int(rng.integers(1, 4)))) for _ in range(n)]
    expl = [" ".join(rng.choice(WORDS, size=int(rng.integers(28, 40)))) for _ in range(n)]
    return seqs, cats, expl


def median_time(fn, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resources/llm/smollm2-135m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model, tok = load_backbone(args.backbone, "cpu", "float32")
    n_items = 400
    sas = SASRec(SASRecConfig(n_items=n_items)).eval()
    feats = SequenceFeatures(sas, torch.randn(n_items, 384), "contextual")
    adapter = SEGAdapter(seg_config(CFG, model.config.hidden_size, sas, 384))
    builder = prompt_builder(tok, CFG)
    inj = Injector(model)

    # ---- training step
    seqs, cats, expl = fake_rows(rng, 8, n_items)
    batch = collate([builder.encode(c, x) for c, x in zip(cats, expl)], tok.pad_token_id, with_target=True)
    f = feats(seqs)
    opt = torch.optim.Adam(adapter.parameters(), lr=1e-4, weight_decay=1e-6)
    soft_init = model.get_input_embeddings()(batch["ids"])[torch.arange(8)[:, None], batch["soft"]].detach()
    soft = torch.nn.Parameter(soft_init.clone())
    opt_bare = torch.optim.Adam([soft], lr=1e-4)

    def seg_step():
        inj.install()
        adapter.train()
        loss = lm_loss(model, inj, batch, adapter(f))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        inj.clear()
        inj.remove()

    def bare_step():
        # the same forward as lm_loss, with the soft slots' embeddings trainable and no hooks
        loss = lm_loss(model, inj, batch, soft)  # hooks not installed: the context is set but never read
        opt_bare.zero_grad(set_to_none=True)
        loss.backward()
        opt_bare.step()
        inj.clear()

    tokens = int(batch["attention_mask"].sum())
    print(f"training batch: 8 x {batch['ids'].shape[1]} (real tokens {tokens}, label tokens {int((batch['labels'] != -100).sum())})")
    seg_step(), bare_step()  # warm-up
    t_bare, t_seg = [], []
    for _ in range(args.reps):
        t_bare.append(median_time(bare_step, 1)[0])
        t_seg.append(median_time(seg_step, 1)[0])
    mb, ms = statistics.median(t_bare), statistics.median(t_seg)
    print(f"train step  bare {mb:.3f} s ({tokens / mb:.0f} tokens/s)   SEG {ms:.3f} s ({tokens / ms:.0f} tokens/s)   "
          f"speed ratio bare/SEG {mb / ms:.3f}   runs bare {[round(t, 3) for t in t_bare]} SEG {[round(t, 3) for t in t_seg]}")
    print(f"peak RSS after training steps: {rss_mb():.0f} MB")

    # ---- generation
    seqs, cats, _ = fake_rows(rng, args.prompts, n_items)
    gbatch = collate([builder.encode(c) for c in cats], tok.pad_token_id, with_target=False)
    gf = feats(seqs)
    gen = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens}
    adapter.eval()

    def seg_gen():
        inj.install()
        with torch.inference_mode():
            out = generate_ids(model, inj, gbatch, adapter(gf), gen, tok.pad_token_id, tok.eos_token_id)
        inj.remove()
        return out

    def bare_gen():
        return generate_ids(model, None, gbatch, None, gen, tok.pad_token_id, tok.eos_token_id)

    assert seg_gen().shape[1] == bare_gen().shape[1] == args.new_tokens  # warm-up, and equal work
    g_bare, g_seg = [], []
    for _ in range(args.reps):
        g_bare.append(median_time(bare_gen, 1)[0])
        g_seg.append(median_time(seg_gen, 1)[0])
    nb, ns = statistics.median(g_bare), statistics.median(g_seg)
    n_new = args.prompts * args.new_tokens
    print(f"generation {args.prompts} prompts (left-padded to {gbatch['ids'].shape[1]}) x {args.new_tokens} new tokens: "
          f"bare {nb:.3f} s ({n_new / nb:.0f} new tokens/s)   SEG {ns:.3f} s ({n_new / ns:.0f} new tokens/s)   "
          f"speed ratio bare/SEG {nb / ns:.3f}   runs bare {[round(t, 3) for t in g_bare]} SEG {[round(t, 3) for t in g_seg]}")
    print(f"peak RSS: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
