"""Prompts with named soft-token slots and named text fields, for any adapter-style method.

`prompting.PromptBuilder` is SEG's layout (fixed Behaviour/Semantics slots + one category field);
this is the same construction with the layout as data, so XRec's prompt (user/item slots, the
item name and two profiles) needs no second copy of the tokenization logic. SEG's builder is the
special case `SlotPrompt(tok, system, "Behaviour: {slot:rec}\\nSemantics: {slot:sem}\\nCategories: {text:categories}")`.

The user turn is a template with `{slot:NAME}` (a soft token: the placeholder id, whose embedding
the adapter vector replaces) and `{text:NAME}` (a per-sample text, tokenized alone and cut to its
cap). With a chat template the prompt is the template's [system, user] rendering plus the
generation prompt; without one, `{system}\\n{user}\\nExplanation:`. Fixed pieces are tokenized once,
so every sample shares the same ids for them. Rows are `prompting.Encoded`, batched by
`prompting.collate`; labels cover the explanation and the end token only.
"""

from __future__ import annotations

import re

from seller_core.llm.prompting import Encoded

_FIELD = re.compile(r"\{(slot|text):(\w+)\}")
_MARK = "\x00F{}\x00"


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
