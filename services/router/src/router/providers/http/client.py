"""One long-lived httpx client per provider, and sending requests on it with typed failures."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import httpx

from router.providers.base import CredentialRejected, ProviderUnavailable
from router.providers.http.bodies import JSON
from router.providers.pool import use_linear_pool
from router.providers.transport import use_asyncio_backend

__all__ = ["USER_AGENT", "build_request", "check_key", "make_client", "send"]

USER_AGENT = "switchyard-router/0.1"


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
    # while streaming, each chunk; `streaming.iter_events` adds the (usually shorter) stream-idle bound.
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
