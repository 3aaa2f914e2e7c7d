"""The providers Switchyard speaks to, once: id, name, the official SDK's base URL and what keys look like.

The router takes its provider settings and catalog check from here, chat-api its accepted providers,
key shape checks and messages, the web app its list (served by chat-api), and the demo provider its
idea of a well-formed key. Adding a provider starts here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["PROVIDERS", "KeyShape", "Provider", "provider_ids"]

# Loose on purpose: providers lengthen keys and add prefixes; the shapes only catch keys pasted into
# the wrong provider, truncated, or carrying quotes, spaces or line breaks.
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


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    display_name: str
    # The official SDK's default; request paths follow each SDK.
    base_url: str
    # Longest prefix first wherever one prefix starts another, so a hint names the most specific one.
    key_shapes: tuple[KeyShape, ...]
    # "one <key_expected>": what a key looks like, in words, for the message that refuses one.
    key_expected: str
    # What the Settings form shows in an empty key field.
    key_placeholder: str

    def accepts(self, key: str) -> bool:
        return any(shape.matches(key) for shape in self.key_shapes)


_ALL = (
    Provider(
        "openai",
        "OpenAI",
        "https://api.openai.com/v1",
        (
            KeyShape("sk-proj-", _URLSAFE, 20, 300),
            KeyShape("sk-svcacct-", _URLSAFE, 20, 300),
            KeyShape("sk-admin-", _URLSAFE, 20, 300),
            KeyShape("sk-", _URLSAFE, 20, 300, foreign=("sk-ant-", "sk-or-")),
        ),
        "starts with sk- (or sk-proj-, sk-svcacct-)",
        "sk-proj-…",
    ),
    Provider(
        "anthropic",
        "Anthropic",
        "https://api.anthropic.com",
        (KeyShape("sk-ant-", _URLSAFE, 30, 300),),
        "starts with sk-ant-",
        "sk-ant-api03-…",
    ),
    Provider(
        "google",
        "Google",
        "https://generativelanguage.googleapis.com",
        (KeyShape("AIza", _URLSAFE, 35, 35),),
        "is AIza followed by 35 letters, digits, '-' or '_'",
        "AIza…",
    ),
    Provider(
        "mistral",
        "Mistral",
        "https://api.mistral.ai/v1",
        (KeyShape("", _ALNUM, 32, 32),),
        "is 32 letters and digits",
        "32 characters",
    ),
    Provider(
        "groq",
        "Groq",
        "https://api.groq.com/openai/v1",
        (KeyShape("gsk_", _ALNUM, 20, 120),),
        "starts with gsk_",
        "gsk_…",
    ),
    Provider(
        "deepseek",
        "DeepSeek",
        "https://api.deepseek.com",
        (KeyShape("sk-", _ALNUM, 20, 120),),
        "starts with sk-",
        "sk-…",
    ),
    Provider(
        "xai",
        "xAI",
        "https://api.x.ai/v1",
        (KeyShape("xai-", _ALNUM, 20, 200),),
        "starts with xai-",
        "xai-…",
    ),
    Provider(
        "together",
        "Together",
        "https://api.together.xyz/v1",
        (KeyShape("tgp_v1_", _URLSAFE, 20, 200), KeyShape("", "0-9a-fA-F", 64, 64)),
        "is 64 hexadecimal characters or starts with tgp_v1_",
        "64 characters",
    ),
    Provider(
        "openrouter",
        "OpenRouter",
        "https://openrouter.ai/api/v1",
        (KeyShape("sk-or-v1-", _ALNUM, 32, 128),),
        "starts with sk-or-v1-",
        "sk-or-v1-…",
    ),
)

# In the order Settings lists them.
PROVIDERS: Mapping[str, Provider] = MappingProxyType({provider.id: provider for provider in _ALL})


def provider_ids() -> tuple[str, ...]:
    return tuple(PROVIDERS)
