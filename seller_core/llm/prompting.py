"""Prompts with soft-token slots, and left-padded batches for training and generation.

Layout (SELLER Eq. 9): [system prompt; e_rec; e_sem; sampled category texts] then the explanation.
With a tokenizer that has a chat template (SmolLM2-Instruct, LLaMA-2-chat) the prompt is the
template's rendering of a system turn and a user turn, followed by the generation prompt:

    <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\nBehaviour: [S]\nSemantics: [S]\n
    Categories: {category text}<|im_end|>\n<|im_start|>assistant\n{explanation}<|im_end|>

Without one (a base LLaMA-2, the test tokenizers) a fixed plain format is used:
    {system}\nBehaviour: [S]\nSemantics: [S]\nCategories: {category text}\nExplanation: {explanation}</s>

[S] is a soft-token slot: an EXISTING token id (eos) stands in for it, its input embedding is
replaced by the adapter vector and q/k/v get the vector added (llm/inject.py); no token is added
and the embedding table is never resized (with tied embeddings that would grow the output layer by
untrained rows). Every text piece is tokenized on its own, so the prefix before the first slot is
the same ids for every sample. Labels cover the explanation tokens and the end token only, and
are built from these segments: SmolLM2's pad is its eos, so `ids != pad` cannot find them.

`SlotPrompt` takes the user turn as a template of `{slot:NAME}` (a soft token) and `{text:NAME}`
(a per-sample text, tokenized alone and cut to its cap) fields, so every adapter-style method
shares one tokenization: XRec's is "User record: {slot:user}\nItem record: {slot:item}\nItem name: {text:name}...",
SEG's `PromptBuilder` is "Behaviour: {slot:rec}\nSemantics: {slot:sem}\nCategories: {text:categories}"
with the lines of dropped components left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

SLOT_LABELS = {"rec": "Behaviour", "sem": "Semantics"}
_FIELD = re.compile(r"\{(slot|text):(\w+)\}")
_MARK = "\x00F{}\x00"


@dataclass
class Encoded:
    prompt: list[int]  # token ids, soft slots included (as the placeholder id)
    soft: list[int]  # indices of the soft slots in `prompt`
    target: list[int]  # explanation ids + end token (empty at generation time)


class SlotPrompt:
    def __init__(self, tok, system: str, template: str, text_caps: dict[str, int] | None = None,
                 max_target_tokens: int = 64):
        self.tok = tok
        self.placeholder = tok.eos_token_id  # an existing id: the (tied) embedding table is never resized
        self.end = tok.eos_token_id
        self.max_target_tokens = max_target_tokens
        fields = _FIELD.findall(template)  # [(kind, name)] in order
        if not fields:
            raise ValueError(f"prompt template has no {{slot:..}} or {{text:..}} field: {template!r}")
        self.slots = [n for k, n in fields if k == "slot"]
        self.texts = [n for k, n in fields if k == "text"]
        if len(set(self.slots + self.texts)) != len(fields):
            raise ValueError(f"prompt template repeats a field name: {template!r}")
        caps = text_caps or {}
        self.caps = {n: int(caps.get(n, 64)) for n in self.texts}
        marked = _FIELD.sub(lambda m: _MARK.format(f"{m.group(1)}:{m.group(2)}"), template)
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": marked}],
                                           tokenize=False, add_generation_prompt=True)
            self.answer_lead = ""
        else:
            text = f"{system}\n{marked}\nExplanation:"
            self.answer_lead = " "
        self.pieces = []  # ("text", ids) | ("slot", name) | ("field", name)
        rest = text
        for kind, name in fields:
            before, sep, rest = rest.partition(_MARK.format(f"{kind}:{name}"))
            if not sep:
                raise ValueError(f"the chat template lost the field {kind}:{name}: {text!r}")
            self.pieces += [("text", self._ids(before)), ("slot" if kind == "slot" else "field", name)]
        self.pieces.append(("text", self._ids(rest)))

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"] if text else []

    def encode(self, texts: dict[str, str], explanation: str | None = None) -> Encoded:
        """texts: one string per text field; soft slots come out in template order."""
        missing = [n for n in self.texts if n not in texts]
        if missing:
            raise KeyError(f"prompt text fields {missing} not given")
        prompt, soft = [], []
        for kind, val in self.pieces:
            if kind == "text":
                prompt += val
            elif kind == "slot":
                soft.append(len(prompt))
                prompt.append(self.placeholder)
            else:
                prompt += self._ids(texts[val])[: self.caps[val]]
        target = []
        if explanation is not None:
            target = self._ids(self.answer_lead + explanation)[: self.max_target_tokens] + [self.end]
        return Encoded(prompt, soft, target)

    def prefix_len(self) -> int:
        """Tokens before the first field (slot or text): the same for every sample."""
        return len(self.pieces[0][1])


class PromptBuilder(SlotPrompt):
    """SEG's layout (Eq. 9): `Behaviour: [S]` / `Semantics: [S]` for the active paths, then the
    sampled category text; a variant that drops a component drops its line."""

    def __init__(self, tok, system: str, slots: list[str], use_categories: bool = True, max_target_tokens: int = 96,
                 max_category_tokens: int = 48):
        lines = [f"{SLOT_LABELS[s]}: {{slot:{s}}}" for s in slots]
        if use_categories:
            lines.append("Categories: {text:categories}")
        super().__init__(tok, system, "\n".join(lines), {"categories": max_category_tokens}, max_target_tokens)
        self.use_categories = use_categories

    def encode(self, category_text: str = "", explanation: str | None = None) -> Encoded:
        return super().encode({"categories": category_text} if self.use_categories else {}, explanation)


def shared_prefix(rows: list[Encoded], prefix_len: int) -> list[int]:
    """The first prefix_len prompt ids, checked to be the same in every row and free of soft slots."""
    if not rows or prefix_len == 0:
        return []
    head = rows[0].prompt[:prefix_len]
    for n, r in enumerate(rows):
        if r.prompt[:prefix_len] != head:
            raise ValueError(f"row {n}: its first {prefix_len} prompt ids differ from row 0's: no shared prefix to reuse")
        if r.soft and min(r.soft) < prefix_len:
            raise ValueError(f"row {n}: soft slot at {min(r.soft)} inside the shared prefix of {prefix_len} tokens")
    return head


def collate(rows: list[Encoded], pad_id: int, with_target: bool, prefix_len: int = 0) -> dict:
    """A batch of rows. prefix_len 0: left-padded whole rows, [pad | prompt | target]. prefix_len P
    (the shared prefix, whose keys/values come from llm/prefix.py's cache): only the rest is
    batched, [pad | suffix], and it continues the cached [prefix] — the layout [prefix | pad | suffix].

    -> ids (B, S) the batched ids; attention_mask (B, P + S) (the prefix columns are ones, the gap
    zeros); position_ids (B, S), continuing from P; soft (B, K) slot columns within ids; labels
    (B, S), -100 outside the target (when with_target)."""
    shared_prefix(rows, prefix_len)
    P = prefix_len
    seqs = [r.prompt[P:] + (r.target if with_target else []) for r in rows]
    T = max(len(s) for s in seqs)
    B = len(rows)
    ids = torch.full((B, T), pad_id, dtype=torch.long)
    am = torch.zeros(B, T, dtype=torch.long)
    labels = torch.full((B, T), -100, dtype=torch.long)
    soft = torch.zeros(B, len(rows[0].soft), dtype=torch.long)
    for b, (r, s) in enumerate(zip(rows, seqs)):
        off = T - len(s)
        ids[b, off:] = torch.as_tensor(s)
        am[b, off:] = 1
        soft[b] = torch.as_tensor(r.soft, dtype=torch.long) - P + off
        if with_target:
            labels[b, off + len(r.prompt) - P:] = torch.as_tensor(r.target)
    # the same positions generate() derives from the (full) mask; forward() would otherwise count pads
    position_ids = (am.cumsum(-1) - 1).clamp(min=0) + P
    if P:
        am = torch.cat([torch.ones(B, P, dtype=torch.long), am], dim=1)
    out = {"ids": ids, "attention_mask": am, "position_ids": position_ids, "soft": soft}
    if with_target:
        out["labels"] = labels
    return out
