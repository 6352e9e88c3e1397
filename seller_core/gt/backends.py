"""LLM backends behind one `complete()` call: the real Claude (Messages API through the official SDK)
and an offline, deterministic phrase-bank stand-in that is NOT Claude.

Both answer with JSON text, so the offline path goes through the same parse/validate code as the
real one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass

from .prompts import CategoryQueries, response_json

log = logging.getLogger(__name__)

OFFLINE_MODEL = "offline-phrasebank-v1"


@dataclass(frozen=True)
class Request:
    category: str
    n: int
    system: str
    user: str
    max_tokens: int
    temperature: float | None
    key: str  # cache key (cache.request_key)


@dataclass(frozen=True)
class Completion:
    text: str
    stop_reason: str | None
    input_tokens: int
    output_tokens: int


class MissingApiKey(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# Claude


class AnthropicBackend:
    """The Messages API via the official SDK. Transport faults (429 honouring retry-after, 408/409,
    5xx including 529 overloaded, connection errors and timeouts) are retried by the SDK's own
    backoff (`max_retries`); we only add the retry-with-repair for unusable content."""

    name = "anthropic"

    def __init__(self, model: str, *, max_retries: int, timeout_s: float, base_url: str | None = None):
        self.model = model
        self.max_retries, self.timeout_s, self.base_url = max_retries, timeout_s, base_url
        self._client = None

    def connect(self, pending: int) -> None:
        """Read the key now, at the moment requests must be made, and never store it anywhere but
        in the SDK client's memory. A fully cached run never gets here, so it needs no key."""
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise MissingApiKey(
                f"ANTHROPIC_API_KEY is not set, and {pending} request(s) are not in the cache. "
                "Export the key in the shell that runs Snakemake (it is read from the environment only, "
                "never from config), or switch to gt.backend: offline."
            )
        import anthropic  # imported lazily: the offline default must not need the SDK's stack

        self._client = anthropic.Anthropic(
            api_key=key, base_url=self.base_url or None, max_retries=self.max_retries, timeout=self.timeout_s
        )

    def complete(self, req: Request, messages: list[dict]) -> Completion:
        # API version 2026-10-21 (SDK 2.x) rejects sampling parameters, so temperature is sent only
        # when configured, through extra_body, for endpoints that still accept it
        extra = {"temperature": req.temperature} if req.temperature is not None else None
        msg = self._client.messages.create(
            model=self.model,
            system=req.system,
            messages=messages,
            max_tokens=req.max_tokens,
            extra_body=extra,
        )
        text = "".join(getattr(b, "text", "") for b in msg.content if b.type == "text")
        return Completion(text, msg.stop_reason, msg.usage.input_tokens, msg.usage.output_tokens)

    @staticmethod
    def is_fatal(err: BaseException) -> bool:
        """Only transport faults that outlived the SDK's retries cost just their category; anything
        else (bad key, bad request, unknown model, a bug) stops the whole run at once."""
        import anthropic

        if isinstance(err, anthropic.APIConnectionError):
            return False
        if isinstance(err, anthropic.APIStatusError):
            return not (err.status_code in (408, 409, 429) or err.status_code >= 500)
        return True


# --------------------------------------------------------------------------------------------
# Offline stand-in

# Explicit (category-level): every template names the category.
EXPLICIT_TEMPLATES = [
    "{c} that people recommend",
    "the best {c} right now",
    "highly rated {c}",
    "{c} with great reviews",
    "popular {c} to try",
    "something new in {c}",
    "top picks for {c}",
    "more {c} like this",
    "well-loved {c} for this weekend",
    "{c} worth my time",
]

# Implicit (intent-level): each category gets a theme (adjective, need, occasion) whose
# (adjective, need) pair is unique within the dataset, and all its queries revolve around it, so texts are consistent within a category and distinct
# across categories -- which is what a downstream model must be able to learn from. Every
# template shows both the adjective and the need, the pair that is unique per category.
ADJECTIVES = """calm lively cozy bold fresh quirky graceful rustic playful soothing vibrant gentle
hearty crisp dreamy sunny moody breezy warm spicy sleek classic wild bright quiet nostalgic
festive zesty mellow daring humble lavish smooth grounded glowing peaceful cheery curious tender
serene brisk""".split()
NEEDS = """unwinding laughter focus adventure comfort inspiration company learning celebration
recovery romance energy creativity relaxation nourishment discovery craftsmanship rhythm
escape wonder confidence balance curiosity friendship tradition style freshness warmth
healing motion storytelling patience skill surprise calmness indulgence teamwork routine
perspective reflection mischief elegance cheerfulness precision gratitude freedom simplicity
wellbeing momentum""".split()
OCCASIONS = """after-work on-a-rainy-day before-the-weekend with-old-friends on-a-budget
for-the-whole-family late-at-night on-a-first-date during-a-lunch-break on-a-lazy-sunday
with-the-kids after-a-long-week on-a-road-trip before-bed early-in-the-morning
with-colleagues on-a-holiday on-my-own for-a-special-occasion between-errands
after-the-gym during-a-commute with-visiting-relatives on-a-sunny-afternoon""".split()
IMPLICIT_TEMPLATES = [
    "somewhere {adj} for some {need} {occ}",
    "I want {need} that feels {adj}",
    "{adj} ideas for {need} {occ}",
    "a {adj} way to find {need}",
    "looking for {adj} {need} {occ}, nothing too serious",
    "what gives me {adj} {need} {occ}",
    "a little {need} with a {adj} touch",
    "help me find {adj} {need}",
    "my go-to for {adj} {need} {occ}",
    "{need} that leaves me feeling {adj}",
]


def _hash_int(*parts) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


def _words(s: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", s.lower()) if len(w) > 2}


class OfflineBackend:
    """Deterministic, network-free stand-in for Claude. Labelled `backend=offline`,
    `model=offline-phrasebank-v1` in every artifact; its queries are templates, not Claude's.

    Themes are assigned over the sorted category list with collision probing, so no two categories
    of a dataset share an implicit query, and no implicit query reuses a word of its category's
    name (unless the category's words leave fewer than n templates)."""

    name = "offline"
    model = OFFLINE_MODEL

    def __init__(self, categories, seed: int):
        self.seed = seed
        self.themes: dict[str, tuple[str, str, str]] = {}
        # (adjective, need) is what every implicit template shows, so it is what must be unique;
        # the occasion only adds variety
        used = set()
        space = len(ADJECTIVES) * len(NEEDS)
        for c in sorted(set(categories)):
            banned = _words(c)
            h = _hash_int(seed, "theme", c)
            for probe in range(space):
                i = (h + probe * 7919) % space  # 7919 is prime and coprime to `space`: visits every pair
                pair = (ADJECTIVES[i % len(ADJECTIVES)], NEEDS[i // len(ADJECTIVES)])
                if pair not in used and not (banned & _words(" ".join(pair))):
                    break
            else:  # pragma: no cover - needs more categories than pairs (41*49 = 2,009)
                raise ValueError(f"offline backend: no free theme left for category {c!r}")
            used.add(pair)
            occ = [o for o in OCCASIONS if not banned & _words(o)] or OCCASIONS
            self.themes[c] = (*pair, occ[_hash_int(seed, "occasion", c) % len(occ)].replace("-", " "))

    def connect(self, pending: int) -> None:
        pass

    def queries(self, category: str, n: int) -> CategoryQueries:
        if n > len(EXPLICIT_TEMPLATES):
            raise ValueError(f"offline backend has {len(EXPLICIT_TEMPLATES)} templates per kind; n_queries={n}")
        adj, need, occ = self.themes[category]
        exp = sorted(EXPLICIT_TEMPLATES, key=lambda t: _hash_int(self.seed, "explicit", category, t))[:n]
        # templates whose own words would name the category ("help" for "Homework help") go last
        banned = _words(category)
        imp = sorted((t.format(adj=adj, need=need, occ=occ) for t in IMPLICIT_TEMPLATES),
                     key=lambda q: (bool(banned & _words(q)), _hash_int(self.seed, "implicit", category, q)))[:n]
        return CategoryQueries(explicit=tuple(t.format(c=category) for t in exp), implicit=tuple(imp))

    def complete(self, req: Request, messages: list[dict]) -> Completion:
        return Completion(response_json(req.category, self.queries(req.category, req.n)), "end_turn", 0, 0)

    @staticmethod
    def is_fatal(err: BaseException) -> bool:
        return True
