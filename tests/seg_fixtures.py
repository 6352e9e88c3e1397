"""Tiny offline stand-ins for SEG tests: a random LLaMA (full multi-head or grouped-query attention)
saved as a Hugging Face directory with a word-level tokenizer built here, a random SASRec, item-text
embeddings and a few samples. Nothing is downloaded and nothing under /work/shared is read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from seller_core.data.io import write_parquet

WORDS = ("the user wants more of comedy music food bars sushi games pets fashion travel like this "
         "worth my time something new in best right now say what is looking for last item behaviour "
         "semantics categories explanation a an and , ; : .").split()
CHAT_TEMPLATE = ("{% for m in messages %}<s> {{ m['role'] }} : {{ m['content'] }} </s> {% endfor %}"
                 "{% if add_generation_prompt %}<s> assistant : {% endif %}")


def word_tokenizer(chat: bool = False):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "</s>", "<s>"] + sorted(set(WORDS)))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", eos_token="</s>", bos_token="<s>",
                                  pad_token="</s>")  # pad == eos, as in SmolLM2
    if chat:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def tiny_llama(n_kv_heads: int = 4, seed: int = 0, vocab: int = 64):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=n_kv_heads, max_position_embeddings=256,
                      tie_word_embeddings=True, attn_implementation="sdpa",
                      initializer_range=0.1)  # > the default 0.02: less flat logits, so greedy choices are stable
    return LlamaForCausalLM(cfg).eval()


def save_backbone(tmp_path: Path, n_kv_heads: int = 4, chat: bool = False) -> Path:
    d = tmp_path / f"llm_kv{n_kv_heads}{'_chat' if chat else ''}"
    tiny_llama(n_kv_heads).save_pretrained(d)
    word_tokenizer(chat).save_pretrained(d)
    return d


def seg_cfg(**over) -> dict:
    cfg = dict(kind="both", behaviour="contextual", system_prompt="say what the user is looking for",
               max_target_tokens=16, max_category_tokens=8, use_rec=True, use_sem=True, use_categories=True,
               d=16, n_layers=1, n_heads=2, d_ff=32, encoder_dropout=0.1, n_experts=2, expert_hidden=16,
               expert_dropout=0.2, init_std=0.02, pool="mean", lr=1e-2, weight_decay=1e-6, batch_size=4, epochs=2,
               max_train_samples="all", log_every=1, seed=0)
    cfg.update(over)
    return cfg


GEN = {"batch_size": 3, "max_new_tokens": 6, "stop": ["\n"], "do_sample": False}
PHRASES = ["more comedy like this", "sushi worth my time", "something new in games", "the best pets right now",
           "more fashion like this ; travel worth my time", "music and food"]
CATS = ["comedy", "sushi", "games , pets", "fashion", "travel , music", "food"]


def make_dataset(root: Path, ds: str = "tiny", n_items: int = 12, n_users: int = 6, seed: int = 0) -> dict:
    """results/-style files for one dataset plus a random SASRec; returns their paths."""
    from seller_core.models.sasrec import SASRec, SASRecConfig

    rng = np.random.default_rng(seed)
    data = root / "data" / ds
    (data / "gt").mkdir(parents=True, exist_ok=True)
    items = pd.DataFrame({"item_id": np.arange(n_items), "raw_item_id": [f"i{i}" for i in range(n_items)],
                          "categories": [[CATS[i % len(CATS)].split(" , ")[0]] for i in range(n_items)]})
    write_parquet(pa.Table.from_pandas(items, preserve_index=False), data / "items.parquet")
    write_parquet(pa.table({"user_id": np.arange(n_users), "raw_user_id": [f"u{u}" for u in range(n_users)]}),
                  data / "users.parquet")
    rows, sid = {"train": [], "valid": [], "test": []}, 0
    for u in range(n_users):
        seq = rng.choice(n_items, size=6, replace=False).tolist()
        for t in range(1, len(seq)):
            split = "train" if t < 4 else ("valid" if t == 4 else "test")
            rows[split].append({"sample_id": sid, "user_id": u, "item_id": seq[t], "history": seq[:t], "split": split})
            sid += 1
    allrows = []
    for split, r in rows.items():
        df = pd.DataFrame(r)
        write_parquet(pa.Table.from_pandas(df, preserve_index=False), data / f"samples_{split}.parquet")
        allrows += r
    all_df = pd.DataFrame(allrows)
    cats = pd.DataFrame({"sample_id": all_df["sample_id"], "split": all_df["split"],
                         "categories": [CATS[i % len(CATS)].split(" , ") for i in all_df["item_id"]],
                         "text": [CATS[i % len(CATS)] for i in all_df["item_id"]]})
    write_parquet(pa.Table.from_pandas(cats, preserve_index=False), data / "category_texts.parquet")
    text = [PHRASES[i % len(PHRASES)] for i in all_df["item_id"]]
    gt = pd.DataFrame({"sample_id": all_df["sample_id"], "split": all_df["split"], "user_id": all_df["user_id"],
                       "item_id": all_df["item_id"], "category_text": text, "intent_text": text, "both_text": text,
                       "backend": "offline"})
    write_parquet(pa.Table.from_pandas(gt, preserve_index=False), data / "gt" / "explanations.parquet")
    emb = rng.normal(size=(n_items, 24)).astype(np.float32)
    np.save(data / "item_text_emb.npy", emb)
    torch.manual_seed(seed)
    sas = SASRec(SASRecConfig(n_items=n_items, max_len=8, d=16, n_layers=1, n_heads=2, d_ff=16, dropout=0.0))
    (root / "models" / ds / "sasrec").mkdir(parents=True, exist_ok=True)
    torch.save({"config": sas.cfg.to_dict(), "state_dict": sas.state_dict()}, root / "models" / ds / "sasrec" / "model.pt")
    (data / "meta.json").write_text(json.dumps({"n_items": n_items}))
    return {"sasrec": root / "models" / ds / "sasrec" / "model.pt", "item_table": data / "items.parquet",
            "item_text_emb": data / "item_text_emb.npy", "train": data / "samples_train.parquet",
            "test": data / "samples_test.parquet", "category_texts": data / "category_texts.parquet",
            "gt": data / "gt" / "explanations.parquet"}


def snap_q4(w: torch.Tensor, group: int = 32) -> torch.Tensor:
    """w (N, K) -> the nearest Q4_1-style weights: per `group` inputs, d * q + m with q in 0..15
    and fp16 d, m (as a dequantised GGUF holds them; llm/int4.py reads such weights)."""
    n, k = w.shape
    g = w.reshape(n, k // group, group)
    lo = g.amin(-1).half().float()
    step = ((g.amax(-1) - lo) / 15).half().float().clamp(min=1e-4)
    q = torch.round((g - lo[..., None]) / step[..., None]).clamp(0, 15)
    return (q * step[..., None] + lo[..., None]).reshape(n, k)


def snap_model_q4(model):
    """A LLaMA-family model's decoder projections snapped to the 4-bit grid, in place (-> model)."""
    with torch.no_grad():
        for layer in model.model.layers:
            for part in (layer.self_attn, layer.mlp):
                for mod in part.children():
                    if isinstance(mod, torch.nn.Linear):
                        mod.weight.copy_(snap_q4(mod.weight))
    return model.requires_grad_(False)


def q4_backbone(src: Path, dst: Path) -> Path:
    """A saved backbone's copy with its decoder on the 4-bit grid (same tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    snap_model_q4(AutoModelForCausalLM.from_pretrained(src)).save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    return dst
