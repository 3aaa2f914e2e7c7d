"""What every provider adapter takes and returns, independent of any wire format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = [
    "BadRequest",
    "ChatMessage",
    "Completion",
    "CredentialRejected",
    "FinishReason",
    "GenerationParams",
    "ImageInput",
    "ProviderAdapter",
    "ProviderCall",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "StreamEnd",
    "TextDelta",
    "Usage",
    "scrub",
]

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "content_filter", "other"]
REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class ImageInput:
    """An image: inline bytes with a media type, or an https URL."""

    media_type: str = ""
    data: bytes = b""
    url: str = ""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    parts: tuple[str | ImageInput, ...]

    @property
    def text(self) -> str:
        return "".join(part for part in self.parts if isinstance(part, str))


@dataclass(frozen=True, slots=True)
class GenerationParams:
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One request to one provider model (`provider_model` is the provider's own name)."""

    provider_model: str
    messages: tuple[ChatMessage, ...]
    params: GenerationParams = field(default_factory=GenerationParams)


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    usage: Usage
    finish_reason: FinishReason


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class StreamEnd:
    usage: Usage
    finish_reason: FinishReason


class ProviderError(Exception):
    """A failed provider call. The message never contains the API key (see `scrub`)."""

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message
        self.status = status


class CredentialRejected(ProviderError):
    """401/403: the provider refused the key."""


class RateLimited(ProviderError):
    """429, with the provider's retry-after in seconds when it sent one."""

    def __init__(self, provider: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(provider, message, status=429)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """5xx, connection failure, timeout (connect, first byte or stream idle), broken stream."""


class BadRequest(ProviderError):
    """400 (and other 4xx): the provider's own message, scrubbed of the key."""


def scrub(text: str, api_key: str) -> str:
    """Remove the key (and any long fragment of it) from text that came from a provider."""
    if not api_key:
        return text
    cleaned = text.replace(api_key, REDACTED)
    # Providers often echo a masked or truncated key ("sk-abc...xyz"): drop fragments of 8+ chars.
    for size in (len(api_key) // 2, 8):
        if size < 8:
            continue
        for start in range(0, len(api_key) - size + 1):
            fragment = api_key[start : start + size]
            if fragment in cleaned:
                cleaned = cleaned.replace(fragment, REDACTED)
    return cleaned


class ProviderAdapter(Protocol):
    """One provider's wire format over one long-lived httpx.AsyncClient."""

    name: str

    async def complete(self, call: ProviderCall, api_key: str) -> Completion: ...

    def stream(self, call: ProviderCall, api_key: str) -> AsyncIterator[TextDelta | StreamEnd]: ...

    async def verify(self, api_key: str) -> None:
        """A cheap live call (the model list); raises ProviderError when it fails."""

    async def aclose(self) -> None: ...
