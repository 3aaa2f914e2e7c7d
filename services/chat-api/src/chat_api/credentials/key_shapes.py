"""A pasted key checked against its provider's shape (switchyard_common.providers), so a mistyped or
misplaced key is refused before it is sealed, and the masked hint shown in Settings → API keys."""

from __future__ import annotations

from switchyard_common.providers import PROVIDERS

__all__ = ["KeyShapeError", "hint", "normalize_key"]


class KeyShapeError(ValueError):
    """The key is not of its provider's shape; the message describes the shape, never the key."""


def normalize_key(provider: str, api_key: str) -> str:
    """The key without surrounding whitespace; KeyShapeError unless it has `provider`'s shape."""
    key = api_key.strip()
    known = PROVIDERS[provider]
    if not known.accepts(key):
        raise KeyShapeError(
            f"this does not look like a {known.display_name} API key: one {known.key_expected}, "
            "without spaces or line breaks"
        )
    return key


def hint(provider: str, key: str) -> str:
    """A masked form for display, like `sk-proj-…a1b2`: the known prefix and the last four characters."""
    prefix = next((shape.prefix for shape in PROVIDERS[provider].key_shapes if shape.matches(key)), "")
    return f"{prefix}…{key[-4:]}"
