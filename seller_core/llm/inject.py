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
"""

from __future__ import annotations

import torch


def group_mean(e: torch.Tensor, n_kv_heads: int, head_dim: int) -> torch.Tensor:
    """(..., n_q_heads * head_dim) -> (..., n_kv_heads * head_dim): head-aligned mean over each kv
    head's group of q heads; the identity when n_q_heads == n_kv_heads."""
    n_q = e.shape[-1] // head_dim
    if n_q == n_kv_heads:
        return e
    g = n_q // n_kv_heads
    return e.unflatten(-1, (n_kv_heads, g, head_dim)).mean(-2).flatten(-2)


class InjectionContext:
    """What the hooks add, where. Set it before each forward/generate and clear it after backward
    (with gradient checkpointing the hooks re-run during backward and must see the same context)."""

    def __init__(self):
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
        ekv = group_mean(e, n_kv_heads, head_dim)  # (B, K, n_kv * head_dim)
        self.add = {"q": e, "k": ekv, "v": ekv}

    def hook(self, which: str):
        def fn(module, args, out):  # out: (B, T, width), before the head reshape and RoPE
            if self.pos is None or out.shape[1] != self.seq_len:
                return None  # decode step or no injection: untouched
            if out.shape[0] != self.pos.shape[0]:
                # beam search / num_return_sequences repeat the batch: pass repeat_interleaved vectors
                raise RuntimeError(f"injection context holds {self.pos.shape[0]} rows but the activation has "
                                   f"{out.shape[0]} (beams? repeat the context per returned sequence)")
            add = self.add[which]
            if add.shape[-1] != out.shape[-1]:
                raise RuntimeError(f"{which}_proj outputs width {out.shape[-1]}, injection vector is {add.shape[-1]}")
            # out-of-place: the output may be needed by autograd; cast because the adapter may be fp32
            return out.index_put((self.bidx, self.pos), add.to(out.dtype), accumulate=True)

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

    def layers(self):
        inner = getattr(self.model, "model", self.model)
        if not hasattr(inner, "layers"):
            raise TypeError(f"{type(self.model).__name__}: no decoder layers at .model.layers (LLaMA-family expected)")
        return inner.layers

    def install(self) -> "Injector":
        if not self.handles:
            for layer in self.layers():
                for which in ("q", "k", "v"):
                    proj = getattr(layer.self_attn, f"{which}_proj")
                    self.handles.append(proj.register_forward_hook(self.ctx.hook(which)))
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

    def inputs_embeds(self, ids: torch.Tensor, pos: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Token embeddings of ids (B, T) with the soft positions pos (B, K) replaced by e (B, K, H).
        Out-of-place, so gradients reach e and the frozen table is never written."""
        x = self.embed(ids)  # (B, T, H)
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

