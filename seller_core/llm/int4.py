"""Opt-in faster CPU decoding for a backbone stored as 4-bit groups (`explain --decode int4`).

Why it exists: on demand, an adapter method's resident form answers a pair in ≈ 2 s on the 2-core CPU, and
nearly all of it is greedy decoding, one token at a time, each step reading every fp32 weight of
the backbone (540 MB for SmolLM2-135M). Reading them is not the limit (≈ 19 ms a token at the
memory's pace, measured by bench/explain_latency.py); torch's fp32 batch-1 linear kernels are: they
take ≈ 54 ms for the decoder's 106M weights that a plain read covers in ≈ 16 ms, and every step
adds ≈ 11 ms of per-op overhead over 30 layers, so 32 exact tokens take ≈ 2 s.

The bundled backbone is a Q4_1 GGUF: every decoder weight already lies on a grid `d * q + m`,
q in 0..15, per 32 inputs (`prepare_backbone` dequantises it exactly). So the decode steps can read
those 4-bit codes instead of fp32 values with torch's int4 CPU kernel
(`torch._weight_int4pack_mm_for_cpu`), an eighth of the bytes. What is not exact, and why texts
can differ from the pipeline's (which are always decoded in fp32):
- the kernel takes bf16 activations and bf16 scales (d, m + 8d), not fp32 ones;
- the output layer (the tied embedding, not on a 4-bit grid) picks 32 candidates from its weight
  rounded to 4 bits and rescores them in fp32, so the greedy choice is the fp32 model's unless its
  best token falls outside those 32.
The prefill (all positions of the prompt, where the soft tokens enter) runs the untouched fp32
layers: only single-position forwards (decode steps) take the int4 path. Weights that are not on
a 4-bit grid (a fine-tuned LM, LLaMA-2 fp16) are refused, naming the layer: this is a way to read
a 4-bit model faster, not a quantiser. Greedy only (the rescored logits are exact for the top 32).

torchao's int8/int4 weight-only configs are the library route; in eager mode their CPU linear
dequantises the weight per call (slower than fp32 here), so the aten kernel is called directly.
"""

from __future__ import annotations

import torch
from torch import nn

from seller_core.llm.lookup import VERIFY_T

GROUP = 32  # GGUF Q4_0/Q4_1 block size
TOP_K = 32  # output-layer candidates rescored in fp32


def _decode_step(x: torch.Tensor) -> bool:
    """A cached decode step: one position per row (x: (B, 1, H)), or a lookup decode's verify
    forward (llm/lookup.py: up to VERIFY_T positions). Prefill and training forwards keep the
    exact fp32 path."""
    return x.dim() == 3 and (x.shape[1] == 1 or x.shape[1] <= VERIFY_T.get())


def _pack(weight: torch.Tensor, name: str, on_grid: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """weight (N, K) as the int4 kernel's packed codes and (K/G, N, 2) bf16 scale/zero, per GROUP
    inputs. on_grid: the weight must already lie on that grid (a Q4 GGUF layer), else it is refused;
    otherwise it is rounded to it (only the output layer's candidate search, which is rescored)."""
    w = weight.detach().float()  # (N, K)
    n, k = w.shape
    if k % GROUP:
        raise ValueError(f"{name}: {k} inputs is not a multiple of the {GROUP}-wide 4-bit groups")
    g = w.reshape(n, k // GROUP, GROUP)
    lo = g.amin(-1)  # (N, K/G)
    step = (g.amax(-1) - lo) / 15
    q = torch.round((g - lo[..., None]) / step.clamp(min=1e-30)[..., None]).clamp(0, 15)
    # on the grid up to fp32 rounding of d * q + m (a thousandth of the grid step); random or
    # fine-tuned weights are off by up to half a step
    if on_grid and ((q * step[..., None] + lo[..., None] - g).abs() > 1e-3 * step[..., None]).any():
        raise ValueError(f"{name}: weights are not on a 4-bit grid per {GROUP} inputs (not a Q4 GGUF backbone, "
                         "or fine-tuned); use --decode exact")
    packed = torch._convert_weight_to_int4pack_for_cpu(q.to(torch.int32).reshape(n, k), 2)
    # the kernel computes (q - 8) * scale + zero
    scale_zero = torch.stack([step, lo + 8 * step], -1).transpose(0, 1).contiguous().to(torch.bfloat16)
    return packed, scale_zero


def _int4_mm(x: torch.Tensor, packed: torch.Tensor, scale_zero: torch.Tensor) -> torch.Tensor:
    """x (..., K) times a _pack()ed weight -> (M, N) in x's dtype, M the rows of x."""
    return torch._weight_int4pack_mm_for_cpu(x.reshape(-1, x.shape[-1]).to(torch.bfloat16), packed, GROUP,
                                             scale_zero).to(x.dtype)


class Int4DecodeLinear(nn.Module):
    """nn.Linear (no bias) whose weight lies on a 4-bit grid per GROUP inputs; decode steps use the
    packed codes, anything else the original fp32 layer."""

    def __init__(self, lin: nn.Linear, name: str = "linear"):
        super().__init__()
        if lin.bias is not None:
            raise ValueError(f"{name}: has a bias; the int4 decode path covers LLaMA-family bias-free projections")
        self.lin = lin
        self.in_features, self.out_features = lin.in_features, lin.out_features
        packed, scale_zero = _pack(lin.weight, name, on_grid=True)
        self.register_buffer("packed", packed, persistent=False)
        self.register_buffer("scale_zero", scale_zero, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _decode_step(x):
            return self.lin(x)
        return _int4_mm(x, self.packed, self.scale_zero).reshape(*x.shape[:-1], self.out_features)


class RescoredHead(nn.Module):
    """The output layer for decode steps. Candidates come from the weight rounded to 4 bits per
    GROUP inputs (the int4 kernel: at 1-3 positions 1.6 ms against 8 ms for a bf16 matmul over
    SmolLM2's 49k x 576 tied embedding, which is not on a grid, so this rounding is ours); the TOP_K
    best are recomputed in fp32 and every other token is set to the dtype's minimum. So greedy picks
    the fp32 model's token whenever that token is among the TOP_K candidates."""

    def __init__(self, lin: nn.Linear):
        super().__init__()
        self.lin = lin
        self.in_features, self.out_features = lin.in_features, lin.out_features
        w = lin.weight.detach()
        pad = -w.shape[0] % 16  # the kernel packs rows in sixteens; the padded rows are sliced off
        packed, scale_zero = _pack(torch.cat([w, w.new_zeros(pad, w.shape[1])]), "output layer", on_grid=False)
        self.register_buffer("packed", packed, persistent=False)
        self.register_buffer("scale_zero", scale_zero, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _decode_step(x):
            return self.lin(x)
        h = x.reshape(-1, self.in_features)  # (B, H)
        approx = _int4_mm(h, self.packed, self.scale_zero)[:, :self.out_features]  # (B, V)
        top = approx.topk(min(TOP_K, self.out_features), dim=-1).indices  # (B, K)
        exact = torch.einsum("bh,bkh->bk", h, self.lin.weight[top])  # (B, K) fp32
        logits = torch.full((h.shape[0], self.out_features), torch.finfo(x.dtype).min, dtype=x.dtype, device=x.device)
        return logits.scatter(-1, top, exact).reshape(*x.shape[:-1], self.out_features)


def int4_decode(model) -> nn.Module:
    """Switch a frozen LLaMA-family model's decode steps to the int4 path, in place (-> model).
    Install injection hooks after this (they attach to the new q/k/v modules)."""
    if next(model.parameters()).device.type != "cpu":
        raise ValueError("--decode int4 is a CPU path (torch's int4 CPU kernel); on CUDA use --decode exact")
    if next(model.parameters()).dtype != torch.float32:
        raise ValueError(f"--decode int4 needs the fp32 backbone (llm.dtype float32 or auto on CPU), "
                         f"got {next(model.parameters()).dtype}")
    inner = getattr(model, "model", model)
    for n, layer in enumerate(inner.layers):
        for part in (layer.self_attn, layer.mlp):
            for child, mod in list(part.named_children()):
                if isinstance(mod, nn.Linear):
                    setattr(part, child, Int4DecodeLinear(mod, f"layer {n} {child}"))
    model.lm_head = RescoredHead(model.lm_head)
    return model


# the explain command's --decode: the weights decode steps read, whether drafts are verified, and
# whether the verify forwards are compiled (llm/lookup.py)
DECODE = ("exact", "int4", "lookup", "int4+lookup", "lookup+compile", "int4+lookup+compile")


def apply_decode(model, decode: str, greedy: bool = True):
    """The explain command's --decode choice applied to a loaded (and final) backbone."""
    if decode not in DECODE:
        raise ValueError(f"--decode {decode!r} is not one of {', '.join(DECODE)}")
    if decode != "exact" and not greedy:
        raise ValueError(f"--decode {decode} is exact for greedy decoding only; this run samples (do_sample)")
    return int4_decode(model) if decode.startswith("int4") else model


def decode_settings(gen_cfg: dict, decode: str) -> dict:
    """The generation settings under a --decode choice: lookup decoding runs one row at a time."""
    if "lookup" not in decode:
        return gen_cfg
    return {**gen_cfg, "lookup": True, "batch_size": 1, **({"compile": True} if decode.endswith("+compile") else {})}
