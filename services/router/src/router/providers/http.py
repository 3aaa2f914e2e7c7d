"""HTTP plumbing every adapter shares: one client per provider, typed errors, SSE with an idle timeout.

Nothing raised from here carries the API key, a header or the httpx request: provider text goes
through `scrub`, and transport failures are re-raised outside the `except` block, so the httpx
exception (whose request holds the auth header) is neither the cause nor the context.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import aclosing, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from router.providers.base import (
    BadRequest,
    CredentialRejected,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    scrub,
)
from router.providers.pool import use_linear_pool
from router.providers.sse import EventParser
from router.providers.transport import use_asyncio_backend

__all__ = [
    "USER_AGENT",
    "build_request",
    "check_key",
    "error_from_payload",
    "event_json",
    "event_stream",
    "iter_events",
    "make_client",
    "raise_for_status",
    "read_json",
    "retry_after",
    "send",
    "shape_guard",
]

USER_AGENT = "switchyard-router/0.1"
JSON = dict[str, Any]
_MAX_DETAIL = 500
# Kinds of error (Anthropic `type`, Google `status`, OpenAI `type`/`code`) that mean the same as a status.
_CREDENTIAL_KINDS = ("authentication", "permission", "unauthenticated", "invalid_api_key", "api_key_invalid")
_RATE_KINDS = ("rate_limit", "resource_exhausted")
_REQUEST_KINDS = ("invalid_request", "invalid_argument", "not_found", "failed_precondition")


def make_client(
    base_url: str,
    *,
    connect_timeout: float,
    first_byte_timeout: float,
    max_connections: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One long-lived client per provider; the key goes on each request, never on the client."""
    # httpx's read timeout bounds every socket read: waiting for the response head (first byte) and,
    # while streaming, each chunk; `iter_events` adds the (usually shorter) stream-idle bound.
    timeout = httpx.Timeout(
        connect=connect_timeout, read=first_byte_timeout, write=first_byte_timeout, pool=connect_timeout
    )
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        limits=limits,
        transport=transport,
        headers={"user-agent": USER_AGENT},
        follow_redirects=False,  # a redirect would carry the key to a host nobody configured
    )
    use_asyncio_backend(client)
    use_linear_pool(client)
    return client


def build_request(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str],
    json: JSON | None = None,
    params: Mapping[str, str] | None = None,
) -> httpx.Request:
    """What `client.build_request` makes (base URL + path, default headers, timeouts), with the
    joined URL parsed once per path rather than on every call. No cookie jar is merged: `send`
    never stores a provider's cookies, so the client's jar is always empty."""
    merged = httpx.Headers(client.headers)
    merged.update(headers)
    return httpx.Request(
        method,
        _join(client.base_url, path),
        json=json,
        params=params,
        headers=merged,
        extensions={"timeout": client.timeout.as_dict()},
    )


@functools.lru_cache(maxsize=1024)  # paths are per model at most, so the catalog bounds them
def _join(base_url: httpx.URL, path: str) -> httpx.URL:
    return base_url.copy_with(raw_path=base_url.raw_path + httpx.URL(path).raw_path.lstrip(b"/"))


def check_key(provider: str, api_key: str) -> str:
    """The key as a header value; refuse one httpx could not send (its error would quote the key)."""
    key = api_key.strip()
    if not key or not key.isascii() or not key.isprintable():
        raise CredentialRejected(provider, f"the {provider} API key is empty or not a valid header value")
    return key


async def send(
    client: httpx.AsyncClient, request: httpx.Request, *, provider: str, stream: bool
) -> httpx.Response:
    """Send, turning transport failures into ProviderUnavailable that say which timeout fired."""
    try:
        return await _send_unwrapped(client, request, stream=stream)
    except httpx.ConnectTimeout:
        failure = "connect timeout"
    except httpx.PoolTimeout:
        failure = "timed out waiting for a free connection"
    except httpx.ReadTimeout:
        failure = "first byte timeout"
    except httpx.TimeoutException:
        failure = "timed out sending the request"
    except httpx.ConnectError:
        failure = "could not connect"
    except httpx.TransportError:  # RemoteProtocolError, ReadError, WriteError, ...
        failure = "connection lost before the response"
    raise ProviderUnavailable(provider, f"{provider}: {failure}")


async def _send_unwrapped(
    client: httpx.AsyncClient, request: httpx.Request, *, stream: bool
) -> httpx.Response:
    """`client.send` without its auth, redirect, cookie-jar and access-log layers, none of which a
    provider call uses (no auth flow, redirects refused, no cookies wanted), at a fraction of the CPU.
    The request already carries the client's base URL, headers and timeouts (`build_request`); the
    transport is still the one the client would pick (its pool, or a proxy mount from the environment).
    """
    if client.is_closed:
        raise RuntimeError("Cannot send a request, as the client has been closed.")
    transport = client._transport_for_url(request.url)  # no public API for this
    response = await transport.handle_async_request(request)
    response.request = request
    if not stream:
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
    return response


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


def raise_for_status(provider: str, response: httpx.Response, api_key: str) -> None:
    """Map a non-2xx response (body already read) to a typed error with the provider's own message."""
    if response.is_success:
        return
    status = response.status_code
    body = _json_or_none(response.content)
    _, detail = _error_fields(body)  # the status decides the type, whatever the body calls it
    message = scrub(f"{provider}: HTTP {status}: {detail or response.reason_phrase or 'error'}", api_key)
    if status in (401, 403) or _key_invalid(body):
        raise CredentialRejected(provider, message, status=status)
    if status == 429:
        raise RateLimited(provider, message, retry_after=retry_after(response.headers, body))
    if status >= 500 or status < 400:  # 3xx: redirects are not followed, so the endpoint is wrong
        raise ProviderUnavailable(provider, message, status=status)
    raise BadRequest(provider, message, status=status)


def error_from_payload(provider: str, error: object, api_key: str) -> ProviderError:
    """The typed error for an error object sent inside a 200 stream (its `type`/`status` decides)."""
    kind, detail = _error_fields({"error": error})
    message = scrub(f"{provider}: stream error: {detail or kind or 'unknown'}", api_key)
    lowered = kind.lower()
    if any(word in lowered for word in _CREDENTIAL_KINDS):
        return CredentialRejected(provider, message)
    if any(word in lowered for word in _RATE_KINDS):
        return RateLimited(provider, message)
    if any(word in lowered for word in _REQUEST_KINDS):
        return BadRequest(provider, message)
    return ProviderUnavailable(provider, message)  # overloaded, api_error, server_error, unknown


def retry_after(headers: Mapping[str, str], body: object = None) -> float | None:
    """Seconds to wait: retry-after-ms, retry-after (seconds or HTTP date), then provider hints."""
    if (value := _number(headers.get("retry-after-ms"))) is not None:
        return max(value / 1000, 0.0)
    raw = headers.get("retry-after")
    if (value := _number(raw)) is not None:
        return max(value, 0.0)
    if raw and (when := _http_date(raw)) is not None:
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    hints = [_google_retry_delay(body)]
    # OpenAI/Groq-style resets are durations ("6m0s"); we can't tell which limit tripped, so wait for all.
    hints += [_duration(headers.get(f"x-ratelimit-reset-{kind}")) for kind in ("requests", "tokens")]
    waits = [hint for hint in hints if hint is not None]
    return max(waits) if waits else None


def read_json(provider: str, response: httpx.Response) -> JSON:
    """The body of a successful non-streamed response as a JSON object."""
    body = _json_or_none(response.content)
    if not isinstance(body, dict):
        raise ProviderUnavailable(provider, f"{provider}: response body is not a JSON object")
    return body


def event_json(provider: str, event: ServerSentEvent) -> JSON:
    body = _json_or_none(event.data)
    if not isinstance(body, dict):
        raise ProviderUnavailable(provider, f"{provider}: stream event is not a JSON object")
    return body


@contextmanager
def shape_guard(provider: str) -> Iterator[None]:
    """Valid JSON in an unexpected shape is the provider's fault, not a crash of ours."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        failure = f"{provider}: response has an unexpected shape"
    else:
        return
    raise ProviderUnavailable(provider, failure)


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


def _json_or_none(content: bytes | str) -> object:
    try:
        return json.loads(content)
    except ValueError:  # includes UnicodeDecodeError
        return None


def _error_fields(body: object) -> tuple[str, str]:
    """(kind, message) from any provider's error body; both "" when there is none."""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    if isinstance(error, dict):  # OpenAI, Anthropic, Google, Groq, DeepSeek, Together, OpenRouter
        kind = " ".join(str(error[field]) for field in ("type", "status", "code") if error.get(field))
        message = error.get("message")
    elif isinstance(error, str):  # xAI: {"code": ..., "error": "..."}
        kind, message = body.get("code") or "", error
    else:  # Mistral: {"object": "error", "message": ..., "type": ...}; FastAPI-style {"detail": ...}
        kind, message = body.get("type") or "", body.get("message") or body.get("detail")
    if isinstance(message, dict) and "detail" in message:  # Mistral's 422 nests the FastAPI body
        message = message["detail"]
    if isinstance(message, list):  # FastAPI-style validation errors
        message = "; ".join(_validation_item(item) for item in message)
    elif message is not None and not isinstance(message, str):
        message = json.dumps(message)
    return str(kind), (message or "")[:_MAX_DETAIL]


def _validation_item(item: object) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc") or [] if part != "body")
    return f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", item))


def _details(body: object) -> list[Any]:
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return details if isinstance(details, list) else []


# xAI answers a bad or missing key with 400: {"code": ..., "error": "Incorrect API key provided: …"}.
_XAI_KEY_ERROR = re.compile(r"(?:incorrect|no) api key provided\b", re.IGNORECASE)


def _key_invalid(body: object) -> bool:
    """A refused key sent with another status than 401/403: Google's 400 INVALID_ARGUMENT with an
    ErrorInfo reason API_KEY_INVALID, and xAI's 400 "Incorrect API key provided"."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return _XAI_KEY_ERROR.match(body["error"]) is not None
    return any(isinstance(item, dict) and item.get("reason") == "API_KEY_INVALID" for item in _details(body))


def _google_retry_delay(body: object) -> float | None:
    for item in _details(body):
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return _duration(str(item.get("retryDelay", "")))
    return None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_NUM = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"(?:{_NUM}h)?(?:{_NUM}m(?!s))?(?:{_NUM}s)?(?:{_NUM}ms)?")


def _duration(text: str | None) -> float | None:
    """Go/protobuf-style durations: "1s", "6m0s", "2m59.56s", "120ms", "37.5s"."""
    match = _DURATION.fullmatch(text.strip()) if text else None
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000
