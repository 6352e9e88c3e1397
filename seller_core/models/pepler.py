"""PEPLER (Li, Zhang & Chen, TOIS 2023), continuous-prompt variant: a user vector and an item vector,
learned from scratch, prepended to a pre-trained LM that then writes the explanation.

Input, as in the original (lileipisces/PEPLER, `module.py`): [u; i; <bos>; text; <eos>], no prompt
text. u and i are rows of nn.Embedding tables of the LM's hidden size, initialised U(-0.1, 0.1);
they are input embeddings only (no attention injection: that is XRec's and SEG's mechanism). The
original's GPT-2 becomes the configured backbone (llm/backbone.py); its two stages (prompts only
with the LM frozen, then prompts + LM) are run by methods/pepler/train.py through the shared loop
(llm/adapter_train.py).

The rows are `prompting.Encoded` with the two prompt positions as soft slots (the placeholder id
stands there until the vectors replace its embedding), so batching, left padding, labels and
generation are the shared ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from seller_core.llm.prompting import Encoded


@dataclass
class PEPLERConfig:
    n_users: int
    n_items: int
    hidden: int  # the LM's hidden size (576 SmolLM2-135M, 4096 LLaMA-2-7B, 768 the original's GPT-2)
    init_range: float = 0.1  # U(-r, r), the original's initialisation

    def to_dict(self) -> dict:
        return asdict(self)


class PEPLERPrompt(nn.Module):
    """(user ids (B,), item ids (B,)) -> the two prompt vectors (B, 2, hidden)."""

    def __init__(self, cfg: PEPLERConfig):
        super().__init__()
        self.cfg = cfg
        self.user = nn.Embedding(cfg.n_users, cfg.hidden)
        self.item = nn.Embedding(cfg.n_items, cfg.hidden)
        for emb in (self.user, self.item):
            nn.init.uniform_(emb.weight, -cfg.init_range, cfg.init_range)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.user(users), self.item(items)], dim=1)  # (B, 2, hidden)


def text_start_id(tok, bos_token: str | None = None) -> int:
    """The token that starts the text: `bos_token` when given (config pepler.bos_token), else the
    tokenizer's BOS, else its EOS (GPT-2, PEPLER's LM, uses <|endoftext|> for both). A chat model
    whose BOS is a turn marker (SmolLM2-Instruct: <|im_start|>, after which it expects a role name)
    is better served by its document separator (<|endoftext|>), which is what GPT-2's BOS is."""
    if bos_token is not None:
        tid = tok.get_vocab().get(bos_token)  # not convert_tokens_to_ids: SmolLM2's unk IS <|endoftext|>
        if tid is None:
            raise ValueError(f"config key pepler.bos_token: {bos_token!r} is not a token of the backbone's tokenizer")
        return tid
    return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id


def encode(tok, explanation: str | None = None, max_target_tokens: int = 64, bos_id: int | None = None) -> Encoded:
    """[u, i, <bos>] (+ explanation + <eos>): the prompt is the same ids for every sample; the two
    soft slots are columns 0 and 1 (the placeholder id stands there until the vectors replace it)."""
    bos = text_start_id(tok) if bos_id is None else bos_id
    ph = tok.eos_token_id
    target = []
    if explanation is not None:
        target = tok(explanation, add_special_tokens=False)["input_ids"][:max_target_tokens] + [tok.eos_token_id]
    return Encoded([ph, ph, bos], [0, 1], target)
