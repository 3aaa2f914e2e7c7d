"""What each provider's API keys look like, so a mistyped or misplaced key is refused before it is
sealed, and the masked hint shown in Settings → API keys."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chat_api.core.providers import PROVIDER_NAMES

__all__ = ["KeyShape", "SHAPES", "KeyShapeError", "hint", "normalize_key"]

# Loose on purpose: providers lengthen keys and add prefixes; we only catch keys pasted into the
# wrong provider, truncated, or carrying quotes, spaces or line breaks.
_URLSAFE = "A-Za-z0-9_-"
_ALNUM = "A-Za-z0-9"


@dataclass(frozen=True, slots=True)
class KeyShape:
    """One accepted form: a known prefix, then `body_chars` characters, `min_body`..`max_body` of them."""

    prefix: str
    body_chars: str
    min_body: int
    max_body: int
    # Other providers' prefixes that this shape's would otherwise accept.
    foreign: tuple[str, ...] = ()

    def matches(self, key: str) -> bool:
        if not key.startswith(self.prefix) or key.startswith(self.foreign):
            return False
        body = key[len(self.prefix) :]
        return re.fullmatch(f"[{self.body_chars}]{{{self.min_body},{self.max_body}}}", body) is not None


# Longest prefix first wherever one prefix starts another, so the hint names the most specific one.
SHAPES: dict[str, tuple[KeyShape, ...]] = {
    "openai": (
        KeyShape("sk-proj-", _URLSAFE, 20, 300),
        KeyShape("sk-svcacct-", _URLSAFE, 20, 300),
        KeyShape("sk-admin-", _URLSAFE, 20, 300),
        KeyShape("sk-", _URLSAFE, 20, 300, foreign=("sk-ant-", "sk-or-")),
    ),
    "anthropic": (KeyShape("sk-ant-", _URLSAFE, 30, 300),),
    "google": (KeyShape("AIza", _URLSAFE, 35, 35),),
    "mistral": (KeyShape("", _ALNUM, 32, 32),),
    "groq": (KeyShape("gsk_", _ALNUM, 20, 120),),
    "deepseek": (KeyShape("sk-", _ALNUM, 20, 120),),
    "xai": (KeyShape("xai-", _ALNUM, 20, 200),),
    "together": (KeyShape("tgp_v1_", _URLSAFE, 20, 200), KeyShape("", "0-9a-fA-F", 64, 64)),
    "openrouter": (KeyShape("sk-or-v1-", _ALNUM, 32, 128),),
}

_EXPECTED: dict[str, str] = {
    "openai": "starts with sk- (or sk-proj-, sk-svcacct-)",
    "anthropic": "starts with sk-ant-",
    "google": "is AIza followed by 35 letters, digits, '-' or '_'",
    "mistral": "is 32 letters and digits",
    "groq": "starts with gsk_",
    "deepseek": "starts with sk-",
    "xai": "starts with xai-",
    "together": "is 64 hexadecimal characters or starts with tgp_v1_",
    "openrouter": "starts with sk-or-v1-",
}


class KeyShapeError(ValueError):
    """The key is not of its provider's shape; the message describes the shape, never the key."""


def normalize_key(provider: str, api_key: str) -> str:
    """The key without surrounding whitespace; KeyShapeError unless it has `provider`'s shape."""
    key = api_key.strip()
    if not any(shape.matches(key) for shape in SHAPES[provider]):
        raise KeyShapeError(
            f"this does not look like a {PROVIDER_NAMES[provider]} API key: one {_EXPECTED[provider]}, "
            "without spaces or line breaks"
        )
    return key


def hint(provider: str, key: str) -> str:
    """A masked form for display, like `sk-proj-…a1b2`: the known prefix and the last four characters."""
    prefix = next((shape.prefix for shape in SHAPES[provider] if shape.matches(key)), "")
    return f"{prefix}…{key[-4:]}"
