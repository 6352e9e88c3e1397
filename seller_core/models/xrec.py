"""XRec (Ma et al., EMNLP 2024): collaborative user/item vectors from a LightGCN, mapped by MoE
adapters to the LLM's hidden size, then injected into the frozen LLM exactly as SEG's soft tokens
are (input embedding at a placeholder + the same vector added to q/k/v in every layer:
llm/inject.py), with the user and item profile texts in the prompt.

The adapter follows XRec's `MoEAdaptorLayer` (HKUDS/XRec explainer/models/explainer.py, read, not
copied): 8 experts, each a bias-free linear map of (dropout(x) - b); a linear gate, softmax over
all experts (dense, no top-k), with input-dependent Gaussian noise on the gate logits during
training; gate and noise weights start at zero (uniform gating), experts at N(0, 0.02).
One adapter for users, one for items.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from seller_core.llm.inject import InjectionGates, adapter_injection


@dataclass
class XRecConfig:
    llm_hidden: int  # output width (576 SmolLM2-135M, 4096 LLaMA-2-7B)
    d_in: int = 64  # LightGCN width
    n_experts: int = 8
    dropout: float = 0.2
    noise: bool = True  # noisy gating while training (XRec's default)
    init_std: float = 0.02
    # the shared injection levers (llm/inject.py); the defaults are XRec's published design
    inject_at: str = "slots"
    qkv_gate: bool = False
    slot_scale: str = "none"
    llm_layers: int = 0  # the gates' rows (0 without gates)

    def to_dict(self) -> dict:
        return asdict(self)


class MoEAdaptor(nn.Module):
    """(B, d_in) -> (B, out): sum_e softmax(x W_g + noise)_e * W_e (dropout(x) - b_e)."""

    def __init__(self, cfg: XRecConfig):
        super().__init__()
        n, d, out = cfg.n_experts, cfg.d_in, cfg.llm_hidden
        self.noise = cfg.noise
        self.drop = nn.Dropout(cfg.dropout)
        self.bias = nn.Parameter(torch.zeros(n, d))  # each expert's input shift (XRec's PWLayer.bias)
        self.w = nn.Parameter(torch.randn(n, d, out) * cfg.init_std)  # experts as one batched weight
        self.w_gate = nn.Parameter(torch.zeros(d, n))
        self.w_noise = nn.Parameter(torch.zeros(d, n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = x @ self.w_gate  # (B, n)
        if self.noise and self.training:
            logits = logits + torch.randn_like(logits) * (F.softplus(x @ self.w_noise) + 1e-2)
        gates = F.softmax(logits, dim=-1)  # (B, n)
        z = self.drop(x)[:, None, :] - self.bias  # (B, n, d): each expert sees its own shifted input
        y = torch.einsum("bnd,ndo->bno", z, self.w)  # (B, n, out)
        return torch.einsum("bn,bno->bo", gates, y)


class XRecAdapter(nn.Module):
    """(user vectors (B, d_in), item vectors (B, d_in)) -> soft vectors (B, 2, llm_hidden), user first."""

    def __init__(self, cfg: XRecConfig):
        super().__init__()
        self.cfg = cfg
        self.user = MoEAdaptor(cfg)
        self.item = MoEAdaptor(cfg)
        if cfg.qkv_gate:
            if cfg.llm_layers < 1:
                raise ValueError("config key xrec.qkv_gate needs the LLM's layer count (XRecConfig.llm_layers)")
            self.gates = InjectionGates(cfg.llm_layers)

    def injection(self) -> dict:
        return adapter_injection(self)

    def forward(self, u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.user(u), self.item(i)], dim=1)


class CFTables:
    """The LightGCN tables as fixed features (no gradient): dense user/item ids -> (B, d_in)."""

    def __init__(self, user: torch.Tensor, item: torch.Tensor):
        if user.shape[1] != item.shape[1]:
            raise ValueError(f"LightGCN user width {user.shape[1]} != item width {item.shape[1]}")
        self.user, self.item = user.float(), item.float()

    def __call__(self, users, items, device) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.as_tensor(users, dtype=torch.long)
        i = torch.as_tensor(items, dtype=torch.long)
        return self.user[u].to(device), self.item[i].to(device)
