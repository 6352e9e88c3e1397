"""SEG's cost against the bare frozen LLM, with and without shared-prefix reuse, in one process.

    .venv/bin/python bench/seg.py [--backbone resources/llm/smollm2-135m --threads 2 --reps 5]

(Prepare the backbone first: snakemake --cores 1 resources/llm/smollm2-135m. On a 2-core machine
that other jobs are using, pass --threads 1 or expect noisy figures.) Prompt settings, batch size
and generation length are those of `config/config.yaml`'s `seg` section (the embedded prompt length).

1. Training step, batch `seg.batch_size` (random item sequences, category texts and GT-like
   explanations cut to `seg.max_target_tokens`), three kinds, interleaved:
   - naive bare: the whole left-padded rows through the frozen LLM with no hooks, the soft slots'
     input embeddings the only trainable tensor (the least a method that trains through a frozen
     LLM pays without reuse: a backward through it) -> Adam on them;
   - bare + reuse: the same, the shared prefix's keys/values from llm/prefix.py's cache;
   - SEG + reuse: dual-path encoder + MoE adapter -> soft tokens + q/k/v hooks -> the frozen LLM on
     the suffix, continuing the cached prefix -> Adam on the adapter (what the rules run);
   and SEG without reuse, for the reuse's own effect on SEG.
   Then where a naive step's time goes: the prefix forward (what reuse saves), the backbone's
   forward + backward over the prompt tokens alone and over prompt + target, the output layer
   (vocabulary projection + cross-entropy, forward + backward, on the label positions only).
2. Generation, `seg.generate.batch_size` prompts x `max_new_tokens` (min = max: equal work):
   naive bare (no hooks, whole prompts), bare + reuse, SEG + reuse (and SEG without reuse).
Medians of interleaved runs; speed ratios are naive-bare time / other time (> 1: faster).
"""

import argparse
import resource
import statistics
import time

import numpy as np
import torch

from seller_core.config import load_config
from seller_core.methods.seller import seg_section
from seller_core.llm.adapter_train import lm_loss
from seller_core.llm.backbone import load_backbone
from seller_core.llm.generate import generate_ids
from seller_core.llm.inject import Injector
from seller_core.llm.prefix import PrefixCache
from seller_core.llm.prompting import collate, shared_prefix
from seller_core.models.sasrec import SASRec, SASRecConfig
from seller_core.models.seg import SEGAdapter, SequenceFeatures
from seller_core.methods.seller.train import prompt_builder, seg_config

WORDS = ("more sushi bars like this; a calm way to find escape; the best comedy right now; looking for warm "
         "inspiration during a commute, nothing too serious; well-loved grocery for this weekend").split()
CATS = ["Bars", "Sushi Bars", "Comedy", "Grocery", "Parks", "Thai", "Restaurants", "Nightlife", "Coffee & Tea",
        "Auto Repair", "Tires", "Beauty & Spas", "Hair Salons", "Pizza", "Breakfast & Brunch"]


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fake_rows(rng, n, n_items):
    seqs = [rng.choice(n_items, size=int(rng.integers(5, 51)), replace=False).tolist() for _ in range(n)]
    cats = [", ".join(rng.choice(CATS, size=int(rng.integers(3, 9)))) for _ in range(n)]  # the sampled texts: 3-8 names
    expl = [" ".join(rng.choice(WORDS, size=int(rng.integers(28, 40)))) for _ in range(n)]
    return seqs, cats, expl


def interleaved(fns: dict, reps: int) -> dict:
    """name -> median seconds over reps rounds, each round running every fn once in turn."""
    for f in fns.values():
        f()  # warm-up
    ts = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            ts[k].append(time.perf_counter() - t0)
    return {k: (statistics.median(v), v) for k, v in ts.items()}


def report(title: str, res: dict, base: str, unit_count: int, unit: str):
    print(title)
    t0 = res[base][0]
    for k, (t, runs) in res.items():
        print(f"  {k:<14} {t:7.3f} s  {unit_count / t:7.0f} {unit}/s  speed vs {base}: {t0 / t:5.3f}x   "
              f"runs {[round(x, 3) for x in runs]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resources/llm/smollm2-135m")
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--prompts", type=int, default=None, help="generation batch (default: seg.generate.batch_size)")
    ap.add_argument("--new-tokens", type=int, default=None, help="default: seg.generate.max_new_tokens")
    args = ap.parse_args()
    full = load_config(args.config)
    cfg = seg_section(full)
    n_prompts = args.prompts or full["seg"]["generate"]["batch_size"]
    n_new = args.new_tokens or full["seg"]["generate"]["max_new_tokens"]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model, tok = load_backbone(args.backbone, "cpu", "float32")
    n_items = 400
    sas = SASRec(SASRecConfig(n_items=n_items)).eval()
    feats = SequenceFeatures(sas, torch.randn(n_items, 384), cfg["behaviour"])
    adapter = SEGAdapter(seg_config(cfg, model.config.hidden_size, sas, 384))
    builder = prompt_builder(tok, cfg)
    inj = Injector(model)
    B = cfg["batch_size"]

    # ---- training step
    seqs, cats, expl = fake_rows(rng, B, n_items)
    rows = [builder.encode(c, x) for c, x in zip(cats, expl)]
    prefix = PrefixCache(model, shared_prefix(rows, builder.prefix_len()))
    whole = collate(rows, tok.pad_token_id, with_target=True)
    split = collate(rows, tok.pad_token_id, with_target=True, prefix_len=len(prefix))
    f = feats(seqs)
    opt = torch.optim.Adam(adapter.parameters(), lr=1e-4, weight_decay=1e-6)
    soft_init = model.get_input_embeddings()(whole["ids"])[torch.arange(B)[:, None], whole["soft"]].detach()
    soft = torch.nn.Parameter(soft_init.clone())
    opt_bare = torch.optim.Adam([soft], lr=1e-4)

    def seg_step(batch, pre):
        def fn():
            inj.install()
            adapter.train()
            loss = lm_loss(model, inj, batch, adapter(f), pre)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            inj.remove()
        return fn

    def bare_step(batch, pre):
        def fn():  # hooks not installed: the context is set but never read
            loss = lm_loss(model, inj, batch, soft, pre)
            opt_bare.zero_grad(set_to_none=True)
            loss.backward()
            opt_bare.step()
            inj.clear()
        return fn

    tokens = int(whole["attention_mask"].sum())
    n_lab = int((whole["labels"] != -100).sum())
    print(f"training batch: {B} x {whole['ids'].shape[1]} whole rows (real tokens {tokens}, label tokens {n_lab}); "
          f"shared prefix {len(prefix)} tokens, suffix batch {B} x {split['ids'].shape[1]}")
    res = interleaved({"naive bare": bare_step(whole, None), "bare + reuse": bare_step(split, prefix),
                       "SEG + reuse": seg_step(split, prefix), "SEG (no reuse)": seg_step(whole, None)}, args.reps)
    report("train step", res, "naive bare", tokens, "tokens")
    print(f"  GOAL SEG + reuse >= 1.2x naive bare: {res['naive bare'][0] / res['SEG + reuse'][0]:.3f}x")

    # ---- where a naive step's time goes
    dec, head = model.get_decoder(), model.get_output_embeddings()
    prompt_only = collate([type(r)(r.prompt, r.soft, []) for r in rows], tok.pad_token_id, with_target=False)

    def backbone_fb(batch):
        def fn():
            x = inj.inputs_embeds(batch["ids"], batch["soft"], soft)
            h = dec(inputs_embeds=x, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"],
                    use_cache=False).last_hidden_state
            h.square().mean().backward()  # a backward through every layer, like the loss's
            soft.grad = None
        return fn

    def prefix_fwd():
        with torch.no_grad():
            dec(input_ids=torch.as_tensor(prefix.ids)[None].expand(B, -1), use_cache=False)

    hN = torch.randn(n_lab, model.config.hidden_size, requires_grad=True)
    labN = whole["labels"][whole["labels"] != -100]

    def out_layer():
        torch.nn.functional.cross_entropy(head(hN), labN).backward()
        hN.grad = None

    parts = interleaved({"prefix fwd": prefix_fwd, "prompt f+b": backbone_fb(prompt_only), "all f+b": backbone_fb(whole),
                         "output layer": out_layer}, args.reps)
    t_step = res["naive bare"][0]
    pf, pr, al, ol = (parts[k][0] for k in ("prefix fwd", "prompt f+b", "all f+b", "output layer"))
    print(f"where a naive bare step's {t_step:.3f} s goes (medians, measured apart):")
    print(f"  prefix forward ({len(prefix)} tokens x {B}; what reuse saves): {pf:.3f} s ({pf / t_step:.0%})")
    print(f"  backbone fwd+bwd over the prompt tokens ({int(prompt_only['attention_mask'].sum())}): {pr:.3f} s "
          f"({pr / t_step:.0%}); + the target tokens ({n_lab}): {al - pr:.3f} s ({(al - pr) / t_step:.0%})")
    print(f"  output layer, {n_lab} label positions x {head.out_features} (fwd+bwd): {ol:.3f} s ({ol / t_step:.0%}); "
          f"rest (embedding, optimizer, autograd bookkeeping): {t_step - al - ol:.3f} s")
    print(f"peak RSS after training steps: {rss_mb():.0f} MB")

    # ---- generation
    seqs, cats, _ = fake_rows(rng, n_prompts, n_items)
    grows = [builder.encode(c) for c in cats]
    gwhole = collate(grows, tok.pad_token_id, with_target=False)
    gsplit = collate(grows, tok.pad_token_id, with_target=False, prefix_len=len(prefix))
    gf = feats(seqs)
    gen = {"max_new_tokens": n_new, "min_new_tokens": n_new}
    adapter.eval()

    def seg_gen(batch, pre):
        def fn():
            inj.install()
            with torch.inference_mode():
                out = generate_ids(model, inj, batch, adapter(gf), gen, tok.pad_token_id, tok.eos_token_id, pre)
            inj.remove()
            return out
        return fn

    def bare_gen(batch, pre):
        return lambda: generate_ids(model, None, batch, None, gen, tok.pad_token_id, tok.eos_token_id, pre)

    a, b = bare_gen(gwhole, None)(), bare_gen(gsplit, prefix)()
    assert a.shape[1] == b.shape[1] == n_new  # equal work
    print(f"bare generations equal with and without reuse: {torch.equal(a, b)}")
    g = interleaved({"naive bare": bare_gen(gwhole, None), "bare + reuse": bare_gen(gsplit, prefix),
                     "SEG + reuse": seg_gen(gsplit, prefix), "SEG (no reuse)": seg_gen(gwhole, None)}, args.reps)
    report(f"generation, {n_prompts} prompts (whole rows left-padded to {gwhole['ids'].shape[1]}, suffixes to "
           f"{gsplit['ids'].shape[1]}) x {n_new} new tokens", g, "naive bare", n_prompts * n_new, "new tokens")
    print(f"peak RSS: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
