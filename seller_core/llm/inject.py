"""Soft tokens + attention injection into a frozen decoder LLM (SELLER Eq. 9-11, as XRec does it).

A method produces K adapter vectors per sample (SEG: e_rec and e_sem; XRec: user and item). Each
takes the input-embedding slot of a placeholder token, and the SAME vector is added to the outputs
of q_proj / k_proj / v_proj at that token's position in every layer, before the head reshape and
RoPE (so the k/v additions are what the KV cache stores). Additions are position-specific, not
broadcast over the sequence (XRec's choice; the paper's Eq. 10 shows no position).

Mechanism (peft-style, no forked modeling file): forward hooks on the stock q/k/v Linear modules
read an `InjectionContext` that the caller sets before a forward or generate call. Hooks fire only
when the activation's length equals the context's sequence length, i.e. in training and in the
prefill pass of generate; the cached decode steps ([B, 1, *]) are left alone. Chunked prefill
(generation_config.prefill_chunk_size) would defeat that test: leave it unset.

Widths are read from the modules. With grouped-query attention (SmolLM2: q 576 wide, k/v 192)
the vector is mapped to the k/v width head-aligned: kv head j serves q heads j*g .. j*g+g-1
(transformers' repeat_kv), so it gets the mean of those q heads' slices. For full multi-head
attention (g = 1, LLaMA-2-7B) that map is the identity, i.e. exactly XRec.

Three options (`Injector.configure`), each a config key of the methods that use them
(docs/seg.md, "Levers"); the defaults are the behaviour above, exactly:
- `inject_at`: "slots" (XRec's reading of Eq. 10: each vector at its own slot, prefill only) or
  "from_slot" (the literal reading: Q_l = Q_l^base + sum_k e_k at every position from the row's
  first soft slot on, decode steps included; starting at the slot keeps the shared prefix
  reusable). In both modes a cached decode equals a no-cache recompute of the whole sequence.
- `qkv_gate`: None, or an (n_layers, 3) parameter multiplying the q/k/v additions of each layer
  (LLaMA-Adapter's zero-initialised gate: training starts at the model with the slot embedding
  only, and each layer learns its own scale; the projections' RMS spans 0.04-2.0 across layers).
- `slot_scale`: "none" or "token_norm": the vector taking the input-embedding slot is rescaled to
  the mean norm of the token-embedding table (the additions keep the raw vector; the gate scales
  them).
"""

from __future__ import annotations

import torch
import torch.nn as nn

INJECT_AT = ("slots", "from_slot")
SLOT_SCALES = ("none", "token_norm")
QKV = ("q", "k", "v")
DECODE_ONLY = 1 << 62  # seq_len meaning "every forward is a decode step" (Injector.decode_only)


def group_mean(e: torch.Tensor, n_kv_heads: int, head_dim: int) -> torch.Tensor:
    """(..., n_q_heads * head_dim) -> (..., n_kv_heads * head_dim): head-aligned mean over each kv
    head's group of q heads; the identity when n_q_heads == n_kv_heads."""
    n_q = e.shape[-1] // head_dim
    if n_q == n_kv_heads:
        return e
    g = n_q // n_kv_heads
    return e.unflatten(-1, (n_kv_heads, g, head_dim)).mean(-2).flatten(-2)


class InjectionGates(nn.Module):
    """One learned scalar per layer and per q/k/v addition, zero at the start (LLaMA-Adapter): a
    method that uses them holds this module, so it is trained and saved with the method's weights."""

    def __init__(self, n_layers: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_layers, len(QKV)))  # (L, 3)


def adapter_injection(module: nn.Module) -> dict:
    """Injector.configure's arguments for a method's adapter whose `cfg` has inject_at, slot_scale
    (and qkv_gate: then the adapter holds `gates`, an InjectionGates)."""
    gates = module.gates.weight if hasattr(module, "gates") else None
    return {"inject_at": module.cfg.inject_at, "gates": gates, "slot_scale": module.cfg.slot_scale}


class InjectionContext:
    """What the hooks add, where. Set it before each forward/generate and clear it after backward
    (with gradient checkpointing the hooks re-run during backward and must see the same context)."""

    def __init__(self):
        self.inject_at = "slots"
        self.gates = None
        self.clear()

    def clear(self) -> None:
        self.pos = None
        self.seq_len = None
        self.add = {}

    def set(self, pos: torch.Tensor, e: torch.Tensor, seq_len: int, n_kv_heads: int, head_dim: int) -> None:
        """pos: (B, K) column of each soft token in the padded sequence; e: (B, K, H) the vectors
        (H = q width = hidden size); seq_len: T of the forward (or prefill) being run."""
        if pos.shape != e.shape[:2]:
            raise ValueError(f"soft-token positions {tuple(pos.shape)} do not match vectors {tuple(e.shape)}")
        self.pos = pos
        self.bidx = torch.arange(pos.shape[0], device=pos.device)[:, None].expand_as(pos)
        self.seq_len = seq_len
        if self.inject_at == "from_slot":
            e = e.sum(1, keepdim=True)  # (B, 1, H): Eq. 10's e_rec + e_sem, one addition per position
            self.start = pos.min(1).values  # (B,) the row's first soft slot
        ekv = group_mean(e, n_kv_heads, head_dim)  # (B, K or 1, n_kv * head_dim)
        self.add = {"q": e, "k": ekv, "v": ekv}

    def hook(self, layer: int, which: str):
        col = QKV.index(which)

        def fn(module, args, out):  # out: (B, T, width), before the head reshape and RoPE
            if self.pos is None:
                return None  # no injection: untouched
            T = out.shape[1]
            if out.shape[0] != self.pos.shape[0]:
                # beam search / num_return_sequences repeat the batch: pass repeat_interleaved vectors
                raise RuntimeError(f"injection context holds {self.pos.shape[0]} rows but the activation has "
                                   f"{out.shape[0]} (beams? repeat the context per returned sequence)")
            add = self.add[which]
            if add.shape[-1] != out.shape[-1]:
                raise RuntimeError(f"{which}_proj outputs width {out.shape[-1]}, injection vector is {add.shape[-1]}")
            if self.gates is not None:
                add = add * self.gates[layer, col]
            add = add.to(out.dtype)  # the adapter may be fp32 under bf16 autocast
            # T < seq_len: a cached decode step (T = 1); T >= seq_len: the prefill or a training forward,
            # or a no-cache recompute whose generated tokens are appended on the right of pos
            if self.inject_at == "slots":
                if T < self.seq_len:
                    return None  # the slots' keys/values are in the cache already
                # out-of-place: the output may be needed by autograd
                return out.index_put((self.bidx, self.pos), add, accumulate=True)
            if T < self.seq_len:
                return out + add  # (B, 1, W): every row's new token is past its slots
            after = torch.arange(T, device=out.device)[None, :] >= self.start[:, None]  # (B, T)
            return out + add * after[..., None].to(out.dtype)

        return fn


class Injector:
    """Installs the q/k/v hooks on every decoder layer of a LLaMA-family model, like an adapter:
    `install()` / `remove()`, or `with Injector(model) as inj:`. The model's modules, state_dict
    and parameters are untouched."""

    def __init__(self, model):
        self.model = model
        self.ctx = InjectionContext()
        self.handles = []
        attn = self.layers()[0].self_attn
        self.hidden = attn.q_proj.out_features
        self.head_dim = getattr(attn, "head_dim", None) or model.config.hidden_size // model.config.num_attention_heads
        self.n_kv_heads = attn.k_proj.out_features // self.head_dim
        self.embed = model.get_input_embeddings()
        self.slot_scale = "none"
        with torch.no_grad():  # the frozen table's mean row norm: the scale a token input has
            self.token_norm = float(self.embed.weight.float().norm(dim=-1).mean())

    def configure(self, inject_at: str = "slots", gates: torch.Tensor | None = None, slot_scale: str = "none") -> "Injector":
        """The levers of the module docstring; gates: (n_layers, 3), e.g. InjectionGates(L).weight."""
        if inject_at not in INJECT_AT:
            raise ValueError(f"inject_at {inject_at!r} is not one of {INJECT_AT}")
        if slot_scale not in SLOT_SCALES:
            raise ValueError(f"slot_scale {slot_scale!r} is not one of {SLOT_SCALES}")
        n_layers = len(self.layers())
        if gates is not None and tuple(gates.shape) != (n_layers, len(QKV)):
            raise ValueError(f"injection gates {tuple(gates.shape)}, the LLM has {n_layers} layers x (q, k, v)")
        self.ctx.inject_at, self.ctx.gates, self.slot_scale = inject_at, gates, slot_scale
        return self

    def layers(self):
        inner = getattr(self.model, "model", self.model)
        if not hasattr(inner, "layers"):
            raise TypeError(f"{type(self.model).__name__}: no decoder layers at .model.layers (LLaMA-family expected)")
        return inner.layers

    def install(self) -> "Injector":
        if not self.handles:
            for n, layer in enumerate(self.layers()):
                for which in QKV:
                    proj = getattr(layer.self_attn, f"{which}_proj")
                    self.handles.append(proj.register_forward_hook(self.ctx.hook(n, which)))
        return self

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []
        self.ctx.clear()

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc):
        self.remove()

    def set(self, pos: torch.Tensor, e: torch.Tensor, seq_len: int) -> None:
        if e.shape[-1] != self.hidden:
            raise ValueError(f"adapter vectors are {e.shape[-1]} wide, the LLM's q_proj outputs {self.hidden}")
        self.ctx.set(pos, e, seq_len, self.n_kv_heads, self.head_dim)

    def clear(self) -> None:
        self.ctx.clear()

    def decode_only(self) -> None:
        """Every forward until clear() is a cached decode step, whatever its length (lookup
        decoding's verify forwards, llm/lookup.py, score a few positions at once)."""
        if self.ctx.pos is not None:
            self.ctx.seq_len = DECODE_ONLY

    def inputs_embeds(self, ids: torch.Tensor, pos: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Token embeddings of ids (B, T) with the soft positions pos (B, K) replaced by e (B, K, H).
        Out-of-place, so gradients reach e and the frozen table is never written."""
        x = self.embed(ids)  # (B, T, H)
        if self.slot_scale == "token_norm":  # a zero vector stays zero (the identity tests rely on it)
            e = e * (self.token_norm / e.norm(dim=-1, keepdim=True).clamp(min=1e-12))
        bidx = torch.arange(ids.shape[0], device=ids.device)[:, None].expand_as(pos)
        return x.index_put((bidx, pos), e.to(x.dtype))


def prompt_embeds(model, injector: Injector | None, batch: dict, e: torch.Tensor | None) -> torch.Tensor:
    """Input embeddings (B, T, H) of a collated batch for one forward or generate call. With soft
    vectors e (B, K, H): the slots take e and the injection context is set for this call (the
    caller clears it); with e None: the stock embeddings (the bare LLM)."""
    ids = batch["ids"]
    if e is None:
        return model.get_input_embeddings()(ids)
    injector.set(batch["soft"], e, ids.shape[1])
    return injector.inputs_embeds(ids, batch["soft"], e)

