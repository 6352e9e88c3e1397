"""The ground-truth prompts and the check every response must pass before it counts.

These prompts are RECONSTRUCTIONS. The paper shows its prompt only as an image (Fig. 5, KuaiRec),
whose text is not public; what we know is App. A.2's description: per category, *explicit*
queries that mention the category (e.g. "Remixes and mashups of popular songs" for "Secondary
Creation Music") and *implicit* ones that describe the need without naming it ("Captivating new
interpretations of familiar tunes"). Any edit to the text below must bump PROMPT_VERSION: the
version is part of every cache key and is stored in every artifact.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PROMPT_VERSION = "gt-v1"

SYSTEM_PROMPT = (
    "You write search queries that real users of a recommendation platform might type or think "
    "when they want something from one category. You always answer with a single JSON object and "
    "nothing else: no prose, no markdown fences."
)

USER_TEMPLATE = """Platform: {domain}
Category: {category_json}

Write {n} EXPLICIT queries and {n} IMPLICIT queries for this category.
- Explicit (category-level): the query clearly mentions the category or an obvious synonym of it.
  Example for the category "Secondary Creation Music": "Remixes and mashups of popular songs".
- Implicit (intent-level): the query describes the underlying need, mood or situation of a user
  who would enjoy this category, WITHOUT naming the category.
  Example for "Secondary Creation Music": "Captivating new interpretations of familiar tunes".
  Example for "Restaurants": "Family-friendly dining options nearby".
- Each query: one short phrase of 4 to 12 words, in English, no numbering, all queries distinct.

Answer with exactly this JSON shape:
{{"category": {category_json}, "explicit": ["...", ...], "implicit": ["...", ...]}}"""

REPAIR_INVALID = (
    "Your previous answer could not be used: {reason}. Answer again with ONLY the JSON object "
    "of the required shape, with exactly {n} strings in \"explicit\" and {n} in \"implicit\"."
)
REPAIR_TRUNCATED = (
    "Your previous answer was cut off before it ended. Answer again with ONLY the JSON object, "
    "keeping every query short, with exactly {n} strings in \"explicit\" and {n} in \"implicit\"."
)

MAX_QUERY_CHARS = 200


def user_prompt(category: str, domain: str, n: int) -> str:
    # json.dumps quotes and escapes the category, so a name with quotes cannot break the prompt
    return USER_TEMPLATE.format(domain=domain, category_json=json.dumps(category, ensure_ascii=False), n=n)


class InvalidResponse(ValueError):
    """A response that is not JSON of the expected shape; never cached, retried with a repair."""


@dataclass(frozen=True)
class CategoryQueries:
    explicit: tuple[str, ...]
    implicit: tuple[str, ...]


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def json_object(text: str) -> dict:
    """The JSON object a response holds (a ```json fence around it is tolerated); InvalidResponse otherwise."""
    m = _FENCE.match(text)  # models sometimes fence JSON despite being told not to; harmless
    body = m.group(1) if m else text.strip()
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as e:
        raise InvalidResponse(f"not valid JSON ({e.msg} at char {e.pos})") from None
    if not isinstance(obj, dict):
        raise InvalidResponse(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def json_string_field(text: str, key: str) -> str:
    """The whitespace-normalised string under `key` of a JSON-object response."""
    obj = json_object(text)
    if not isinstance(obj.get(key), str):
        raise InvalidResponse(f'expected a JSON object with a string "{key}"')
    return " ".join(obj[key].split())


def repair_turns(user: str, answer: str, fix: str) -> list[dict]:
    """The messages of a repair request: the refused answer and the fix, or (an empty answer,
    which the API would reject as an assistant turn) the fix appended to the original prompt.
    The answer is right-stripped: the API rejects an assistant turn with trailing whitespace."""
    if answer.strip():
        return [{"role": "user", "content": user}, {"role": "assistant", "content": answer.rstrip()},
                {"role": "user", "content": fix}]
    return [{"role": "user", "content": user + "\n\n" + fix}]


def parse_response(text: str, n: int) -> CategoryQueries:
    """Strict parse: a JSON object with `explicit` and `implicit` lists of at least n distinct,
    non-empty, short strings; the first n of each are kept. Anything else raises InvalidResponse."""
    obj = json_object(text)
    out = {}
    for kind in ("explicit", "implicit"):
        items = obj.get(kind)
        if not isinstance(items, list):
            raise InvalidResponse(f"key {kind!r} missing or not a list")
        seen, kept = set(), []
        for q in items:
            if not isinstance(q, str):
                raise InvalidResponse(f"{kind!r} holds a non-string: {q!r}")
            q = " ".join(q.split())
            if not q or len(q) > MAX_QUERY_CHARS:
                raise InvalidResponse(f"{kind!r} holds an empty or over-long query")
            if q.lower() not in seen:
                seen.add(q.lower())
                kept.append(q)
        if len(kept) < n:
            raise InvalidResponse(f"{kind!r} has {len(kept)} distinct queries, need {n}")
        out[kind] = tuple(kept[:n])
    return CategoryQueries(**out)


def response_json(category: str, q: CategoryQueries) -> str:
    """The canonical text of a valid response (what the offline backend 'answers')."""
    return json.dumps(
        {"category": category, "explicit": list(q.explicit), "implicit": list(q.implicit)}, ensure_ascii=False
    )
