"""The flow every HTTP adapter shares: build → send → check → read → guard, for a whole answer,
a stream and a key check. Each adapter supplies only its wire format: the request, the headers, the
answer's parsing and a `StreamFold` for its events (text, usage, finish and error events)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import ClassVar

import httpx
from httpx_sse import ServerSentEvent

from router.providers.base import Completion, ProviderCall, ProviderUnavailable, StreamEnd, TextDelta
from router.providers.http.bodies import JSON, ShapeGuard, read_json
from router.providers.http.client import build_request, check_key, send
from router.providers.http.errors import raise_for_status
from router.providers.http.streaming import event_stream

__all__ = ["HttpAdapter", "StreamFold"]


class StreamFold(ABC):
    """One stream's state: folds each event in, and knows whether the stream came to its end."""

    __slots__ = ("api_key", "provider", "stopped")

    # What a whole stream has and a cut one lacks, for the "stream truncated" error.
    missing: ClassVar[str]

    def __init__(self, provider: str, api_key: str) -> None:
        self.provider = provider
        self.api_key = api_key  # only to scrub it from an error event's text
        self.stopped = False  # the terminal event came: read no further

    @abstractmethod
    def feed(self, event: ServerSentEvent) -> str:
        """Fold one event in and return the text it adds; raise the error an error event carries."""

    @abstractmethod
    def end(self) -> StreamEnd | None:
        """The stream's usage and finish reason, or None when it ended before its end."""


class HttpAdapter(ABC):
    """A `ProviderAdapter` over one long-lived httpx client; subclasses speak one wire format."""

    models_path: str  # listed with the key to verify it
    stream_fold: type[StreamFold]

    def __init__(self, name: str, client: httpx.AsyncClient, *, stream_idle_timeout: float) -> None:
        self.name = name
        self._client = client
        self._idle = stream_idle_timeout
        self._shape_guard = ShapeGuard(name)

    async def complete(self, call: ProviderCall, api_key: str) -> Completion:
        request = self._call_request(call, api_key, stream=False)
        response = await send(self._client, request, provider=self.name, stream=False)
        raise_for_status(self.name, response, api_key)
        body = read_json(self.name, response)
        with self._shape_guard:
            return self._completion(body)

    async def stream(self, call: ProviderCall, api_key: str) -> AsyncIterator[TextDelta | StreamEnd]:
        request = self._call_request(call, api_key, stream=True)
        stream = event_stream(self._client, request, provider=self.name, api_key=api_key, idle=self._idle)
        fold = self.stream_fold(self.name, api_key)
        async with stream as events:
            async for event in events:
                with self._shape_guard:
                    text = fold.feed(event)
                if text:
                    yield TextDelta(text)
                if fold.stopped:
                    break
        if (end := fold.end()) is None:
            raise ProviderUnavailable(self.name, f"{self.name}: stream truncated ({fold.missing})")
        yield end

    async def verify(self, api_key: str) -> None:
        request = self._request("GET", self.models_path, api_key)
        response = await send(self._client, request, provider=self.name, stream=False)
        raise_for_status(self.name, response, api_key)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _request(
        self,
        method: str,
        path: str,
        api_key: str,
        *,
        json: JSON | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        headers = self._headers(check_key(self.name, api_key), has_body=json is not None)
        return build_request(self._client, method, path, json=json, params=params, headers=headers)

    @abstractmethod
    def _call_request(self, call: ProviderCall, api_key: str, *, stream: bool) -> httpx.Request:
        """The request for `call` (see `_request`), streamed or not."""

    @abstractmethod
    def _headers(self, key: str, *, has_body: bool) -> dict[str, str]:
        """The key (already checked) and the other headers this wire format wants."""

    @abstractmethod
    def _completion(self, body: JSON) -> Completion:
        """A whole (non-streamed) answer; a KeyError and the like mean an unexpected shape."""
