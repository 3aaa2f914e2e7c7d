"""Streamed responses: the SSE events of a response, each within an idle bound, and always closed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager

import httpx
from httpx_sse import ServerSentEvent

from router.providers.base import ProviderUnavailable
from router.providers.http.client import send
from router.providers.http.errors import raise_for_status
from router.providers.sse import EventParser

__all__ = ["DRAIN_SECONDS", "event_stream", "iter_events"]

# How long a finished stream may take to deliver its last bytes before its connection is dropped.
DRAIN_SECONDS = 1.0


@asynccontextmanager
async def event_stream(
    client: httpx.AsyncClient, request: httpx.Request, *, provider: str, api_key: str, idle: float
) -> AsyncIterator[AsyncGenerator[ServerSentEvent, None]]:
    """Send a streaming request; yield its SSE events (see `iter_events`); always close the response."""
    request.headers["accept"] = "text/event-stream"
    response = await send(client, request, provider=provider, stream=True)
    try:
        await _ensure_ok(provider, response, api_key)
        first = client.timeout.read  # the first-byte timeout
        async with aclosing(iter_events(provider, response, idle=idle, first=first)) as events:
            yield events
            # Reached only when the consumer finished normally (it saw its terminal event). Read the
            # little that follows (the end of the chunked body): a response closed before its end
            # takes its connection with it, and every stream would pay a new TCP (and TLS) handshake.
            with contextlib.suppress(ProviderUnavailable, TimeoutError):
                async with asyncio.timeout(min(idle, DRAIN_SECONDS)):
                    async for _ in events:
                        pass
    finally:
        await response.aclose()


async def _ensure_ok(provider: str, response: httpx.Response, api_key: str) -> None:
    """For a streamed response: read the (small) error body, then raise as `raise_for_status`."""
    if response.is_success:
        return
    try:
        await response.aread()
    except httpx.TransportError:
        failure = f"{provider}: HTTP {response.status_code}, and the error body could not be read"
    else:
        raise_for_status(provider, response, api_key)
        return
    raise ProviderUnavailable(provider, failure, status=response.status_code)


async def iter_events(
    provider: str, response: httpx.Response, *, idle: float, first: float | None = None
) -> AsyncGenerator[ServerSentEvent, None]:
    """SSE events with data, each within `idle` seconds of the last; stalls and breaks fail typed.

    The first event may take `first` seconds (the first-byte timeout): a reasoning model can send
    its headers at once and its first token much later, and that is not a stalled stream.
    """
    content_type = response.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in content_type:
        raise ProviderUnavailable(provider, f"{provider}: response is not an event stream")
    chunks, parser = response.aiter_bytes(), EventParser()
    ready: deque[ServerSentEvent] = deque()  # parsed, not yet handed out: no waiting, no timeout
    waited = False
    try:
        while True:
            if not ready:
                limit = idle if waited or first is None else max(first, idle)
                try:
                    async with asyncio.timeout(limit):
                        while not ready:
                            ready.extend(parser.feed(await anext(chunks)))
                except StopAsyncIteration:
                    return
                except (TimeoutError, httpx.ReadTimeout):
                    failure = "stream idle timeout" if waited else "first byte timeout (no event)"
                except httpx.TransportError:
                    failure = "stream broken mid-response"
                else:
                    failure = ""
                if failure:
                    raise ProviderUnavailable(provider, f"{provider}: {failure}")
            event = ready.popleft()
            waited = True
            if event.data:  # keep-alive events carry none
                yield event
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]  # an async generator, typed as an iterator
