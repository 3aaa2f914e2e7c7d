"""A provider's JSON bodies and stream events as JSON objects; anything else fails typed."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from router.providers.base import ProviderUnavailable

__all__ = ["JSON", "ShapeGuard", "event_json", "json_or_none", "read_json"]

JSON = dict[str, Any]
_UNEXPECTED_SHAPE = (KeyError, IndexError, TypeError, ValueError, AttributeError)


def read_json(provider: str, response: httpx.Response) -> JSON:
    """The body of a successful non-streamed response as a JSON object."""
    body = json_or_none(response.content)
    if not isinstance(body, dict):
        raise ProviderUnavailable(provider, f"{provider}: response body is not a JSON object")
    return body


def event_json(provider: str, event: ServerSentEvent) -> JSON:
    """The data of one stream event as a JSON object."""
    body = json_or_none(event.data)
    if not isinstance(body, dict):
        raise ProviderUnavailable(provider, f"{provider}: stream event is not a JSON object")
    return body


class ShapeGuard:
    """`with guard:` turns valid JSON in an unexpected shape into the provider's fault, not a crash
    of ours. It holds only the provider's name, so one per adapter serves every request and event."""

    __slots__ = ("provider",)

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is not None and issubclass(kind, _UNEXPECTED_SHAPE):
            raise ProviderUnavailable(self.provider, f"{self.provider}: response has an unexpected shape")


def json_or_none(content: bytes | str) -> object:
    """The parsed JSON, or None when it is not JSON (or not UTF-8)."""
    try:
        return json.loads(content)
    except ValueError:  # includes UnicodeDecodeError
        return None
