"""The "auto" model: one catalog model chosen from the request's content and the reachable providers.

Rules, first match wins:
1. any image part           → the best reachable vision model (never a model that cannot see it);
2. prompt too long for the fast model the general rule would pick
                            → a long-context model whose window fits, else the largest window that fits;
3. code detected            → a strong coding model, else the fast general model;
4. anything else            → a fast general model, else the cheapest reachable model.
Every pick must fit: estimated prompt tokens + RESPONSE_HEADROOM_TOKENS <= context_window.
When nothing reachable can serve the request, NoReachableModel says why.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from router.catalog import Catalog, CatalogModel
from router.providers.base import ChatMessage, ImageInput

__all__ = [
    "CODING_RANKING",
    "FAST_RANKING",
    "LONG_CONTEXT_RANKING",
    "VISION_RANKING",
    "AutoChoice",
    "NoReachableModel",
    "choose_model",
    "estimate_prompt_tokens",
    "has_images",
    "looks_like_code",
]

# Token estimate: about 4 characters of English text or code per token across the providers'
# tokenizers, plus a flat cost per image (a ~1 megapixel image is 1-2k tokens on most providers).
CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1_600
# Room left in the window for the answer, so a prompt that "fits" can still be answered.
RESPONSE_HEADROOM_TOKENS = 4_096

# Preference orders, best first; each id must carry the category's capability (the tests check).
# A list never ties. Reachable models a list does not name (e.g. from a custom catalog) follow it,
# cheapest first (input + output price per Mtok), then by id, so the choice is always stable.
VISION_RANKING: tuple[str, ...] = (
    "google/gemini-3.1-pro-preview",
    "openai/gpt-5.4",
    "anthropic/claude-sonnet-5-5",
    "xai/grok-4.5",
    "google/gemini-3.8-flash",
    "openai/gpt-5.4-mini",
    "anthropic/claude-haiku-4-5",
    "mistral/mistral-large-latest",
    "openrouter/anthropic/claude-sonnet-5.5",
    "openrouter/openai/gpt-5.4-mini",
    "together/meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
    "groq/meta-llama/llama-4-scout-17b-16e-instruct",
)
LONG_CONTEXT_RANKING: tuple[str, ...] = (
    "google/gemini-3.8-flash",
    "anthropic/claude-sonnet-5-5",
    "openai/gpt-5.4",
    "deepseek/deepseek-v4-flash",
    "xai/grok-4.3",
    "openrouter/google/gemini-3.8-flash",
    "together/meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
    "mistral/mistral-large-latest",
)
CODING_RANKING: tuple[str, ...] = (
    "anthropic/claude-sonnet-5-5",
    "openai/gpt-5.4",
    "google/gemini-3.1-pro-preview",
    "xai/grok-4.5",
    "deepseek/deepseek-v4-pro",
    "mistral/devstral-medium-latest",
    "openrouter/anthropic/claude-sonnet-5.5",
    "together/Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8",
    "groq/openai/gpt-oss-120b",
)
FAST_RANKING: tuple[str, ...] = (
    "google/gemini-3.1-flash-lite",
    "openai/gpt-5.4-nano",
    "groq/llama-3.3-70b-versatile",
    "anthropic/claude-haiku-4-5",
    "deepseek/deepseek-v4-flash",
    "mistral/mistral-small-latest",
    "xai/grok-4.20-0309-non-reasoning",
    "openrouter/google/gemini-3.1-flash-lite",
    "together/meta-llama/Llama-3.3-70B-Instruct-Turbo",
)

REASON_VISION = "image input → vision model"
REASON_LONG = "long prompt → long-context model"
REASON_LONG_FALLBACK = "long prompt → largest reachable context window that fits"
REASON_CODE = "code detected → coding model"
REASON_CODE_FALLBACK = "code detected, no reachable coding model fits → fast general model"
REASON_FAST = "general request → fast model"
REASON_FAST_FALLBACK = "general request, no reachable fast model fits → cheapest reachable model"

# Code detection, deliberately simple: a ``` fence, a Python traceback, or CODE_LINES_NEEDED lines
# that look like code (a definition, import, binding, SQL statement, or a line ending in { } ;).
_FENCE = "```"
_TRACEBACK = "Traceback (most recent call last):"
_CODE_LINE = re.compile(
    r"""^\s*(?:
        (?:async\s+)?def\s+\w+\s*\(
      | class\s+\w+\s*[:({]
      | import\s+[\w.{*]
      | from\s+[\w.]+\s+import\s
      | \#include\s*[<"]
      | (?:const|let|var)\s+\w+\s*=
      | (?:function|fn|func)\s+\w+\s*\(
      | (?:SELECT|INSERT|UPDATE|DELETE)\s.*\b(?:FROM|INTO|SET)\b
    )
    | [{};]\s*$
    """,
    re.VERBOSE,
)
CODE_LINES_NEEDED = 3

_Candidate = tuple[CatalogModel, str]


class NoReachableModel(Exception):
    """No model the caller can reach can serve this request; the message says why."""


@dataclass(frozen=True, slots=True)
class AutoChoice:
    model: CatalogModel
    reason: str


def choose_model(
    messages: Sequence[ChatMessage], reachable_providers: Collection[str], catalog: Catalog
) -> AutoChoice:
    """Pick the model for "auto" among models whose provider the caller can reach."""
    providers = frozenset(reachable_providers)
    reachable = [model for model in catalog.all() if model.provider in providers]
    if not reachable:
        raise NoReachableModel("no model is reachable: no key or platform access for any catalog provider")
    tokens = estimate_prompt_tokens(messages)
    if has_images(messages):
        return _first_fitting(_vision(reachable), tokens, need="image input needs a vision model")
    general = _general(reachable)
    if not _fits(general[0][0], tokens):
        return _first_fitting(_long(reachable), tokens, need="the prompt is too long")
    if looks_like_code(messages):
        fallback = [(model, REASON_CODE_FALLBACK) for model, _ in general]
        return _first_fitting(_coding(reachable) + fallback, tokens, need="code needs a model")
    return _first_fitting(general, tokens, need="the request needs a model")


def estimate_prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    """Text characters / CHARS_PER_TOKEN, rounded up, plus IMAGE_TOKENS per image."""
    chars = sum(len(message.text) for message in messages)
    images = sum(isinstance(part, ImageInput) for message in messages for part in message.parts)
    return -(-chars // CHARS_PER_TOKEN) + images * IMAGE_TOKENS


def has_images(messages: Sequence[ChatMessage]) -> bool:
    return any(isinstance(part, ImageInput) for message in messages for part in message.parts)


def looks_like_code(messages: Sequence[ChatMessage]) -> bool:
    """True for a ``` fence, a Python traceback, or at least CODE_LINES_NEEDED code-like lines."""
    text = "\n".join(message.text for message in messages)
    if _FENCE in text or _TRACEBACK in text:
        return True
    code_lines = 0
    for line in text.splitlines():
        if _CODE_LINE.search(line):
            code_lines += 1
            if code_lines >= CODE_LINES_NEEDED:
                return True
    return False


def _fits(model: CatalogModel, tokens: int) -> bool:
    return tokens + RESPONSE_HEADROOM_TOKENS <= model.context_window


def _first_fitting(candidates: Sequence[_Candidate], tokens: int, *, need: str) -> AutoChoice:
    for model, reason in candidates:
        if _fits(model, tokens):
            return AutoChoice(model=model, reason=reason)
    if not candidates:
        raise NoReachableModel(f"{need}, and no reachable provider offers one")
    largest = max(model.context_window for model, _ in candidates)
    raise NoReachableModel(
        f"{need}: no reachable model fits a prompt of about {tokens:,} tokens "
        f"(largest reachable context window: {largest:,} tokens)"
    )


def _price(model: CatalogModel) -> float:
    return model.input_price_per_mtok + model.output_price_per_mtok


def _preferred(
    reachable: Sequence[CatalogModel], ranking: Sequence[str], capability: str
) -> list[CatalogModel]:
    """Models with `capability`: those `ranking` names in its order, then the others, cheapest first."""
    capable = {model.id: model for model in reachable if capability in model.capabilities}
    ranked = [capable[model_id] for model_id in ranking if model_id in capable]
    named = set(ranking)
    rest = sorted((model for model in capable.values() if model.id not in named), key=_cheapest_first)
    return ranked + rest


def _cheapest_first(model: CatalogModel) -> tuple[float, str]:
    return _price(model), model.id


def _largest_window_first(model: CatalogModel) -> tuple[int, float, str]:
    return -model.context_window, _price(model), model.id


def _vision(reachable: Sequence[CatalogModel]) -> list[_Candidate]:
    return [(model, REASON_VISION) for model in _preferred(reachable, VISION_RANKING, "vision")]


def _long(reachable: Sequence[CatalogModel]) -> list[_Candidate]:
    ranked = [(model, REASON_LONG) for model in _preferred(reachable, LONG_CONTEXT_RANKING, "long_context")]
    largest = sorted(reachable, key=_largest_window_first)
    return ranked + [(model, REASON_LONG_FALLBACK) for model in largest]


def _coding(reachable: Sequence[CatalogModel]) -> list[_Candidate]:
    return [(model, REASON_CODE) for model in _preferred(reachable, CODING_RANKING, "coding")]


def _general(reachable: Sequence[CatalogModel]) -> list[_Candidate]:
    fast = [(model, REASON_FAST) for model in _preferred(reachable, FAST_RANKING, "fast")]
    cheapest = sorted(reachable, key=_cheapest_first)
    return fast + [(model, REASON_FAST_FALLBACK) for model in cheapest]
