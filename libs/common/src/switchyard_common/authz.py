"""Per-method authorization of gRPC callers by their certificate's SPIFFE ID, deny by default.

A grpc.aio server interceptor cannot see the peer certificate, so this interceptor wraps the
handler it is given and checks `context.auth_context()` inside the wrapped behaviour. Every RPC
shape (unary/stream on either side) gets its own wrapper.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from grpc import aio

from switchyard_common.mtls import spiffe_ids_from_auth_context

__all__ = ["ANY_AUTHENTICATED", "Allow", "SpiffeAuthorizer", "current_caller"]

logger = logging.getLogger(__name__)

_caller: contextvars.ContextVar[str] = contextvars.ContextVar("switchyard_caller")


def current_caller() -> str:
    """The SPIFFE ID of the caller of the RPC being served (set by SpiffeAuthorizer)."""
    return _caller.get()


@dataclass(frozen=True, slots=True)
class Allow:
    """Who may call one method: exactly these SPIFFE IDs, or any authenticated peer."""

    identities: frozenset[str] = frozenset()
    any_authenticated: bool = False

    def admits(self, identity: str) -> bool:
        return self.any_authenticated or identity in self.identities


ANY_AUTHENTICATED = Allow(any_authenticated=True)

Behaviour = Callable[..., Any]


class SpiffeAuthorizer(aio.ServerInterceptor):  # type: ignore[type-arg]
    """`policy` maps full method names ("/pkg.Service/Method") to who may call them."""

    def __init__(self, policy: Mapping[str, Allow]) -> None:
        self._policy = dict(policy)
        # Method → (the handler served, its authorizing wrapper). Servers hand back the same handler
        # object for a method on every call, so each is wrapped once, not once per RPC. Only methods
        # that have a handler get here, so the map is bounded by what the server registered.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]] = {}

    def _authorize(self, method: str, context: aio.ServicerContext[Any, Any]) -> str | None:
        identities = spiffe_ids_from_auth_context(context.auth_context())
        rule = self._policy.get(method)
        identity = next(iter(identities)) if len(identities) == 1 else None
        if rule is None or identity is None or not rule.admits(identity):
            logger.warning("denied %s to caller %s", method, identity or "<no single SPIFFE ID>")
            return None
        return identity

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler[Any, Any], method: str) -> grpc.RpcMethodHandler[Any, Any]:
        authorize = self._authorize

        async def admit(context: aio.ServicerContext[Any, Any]) -> None:
            identity = authorize(method, context)
            if identity is None:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "caller not authorized")
            else:
                _caller.set(identity)

        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        # The stubs type these as sync callables; under grpc.aio they are coroutines/async generators.
        behaviours: Any = handler
        if handler.unary_unary is not None:
            unary_unary = behaviours.unary_unary

            async def unary_unary_authorized(request: Any, context: Any) -> Any:
                await admit(context)
                return await unary_unary(request, context)

            return grpc.unary_unary_rpc_method_handler(unary_unary_authorized, **codecs)
        if handler.unary_stream is not None:
            unary_stream = behaviours.unary_stream
            if inspect.iscoroutinefunction(unary_stream):
                # Reader/writer API (e.g. grpc_health's Watch): responses go out via context.write().
                async def unary_stream_writer(request: Any, context: Any) -> None:
                    await admit(context)
                    await unary_stream(request, context)

                return grpc.unary_stream_rpc_method_handler(unary_stream_writer, **codecs)

            async def unary_stream_authorized(request: Any, context: Any) -> AsyncIterator[Any]:
                await admit(context)
                async for item in unary_stream(request, context):
                    yield item

            return grpc.unary_stream_rpc_method_handler(unary_stream_authorized, **codecs)
        if handler.stream_unary is not None:
            stream_unary = behaviours.stream_unary

            async def stream_unary_authorized(requests: Any, context: Any) -> Any:
                await admit(context)
                return await stream_unary(requests, context)

            return grpc.stream_unary_rpc_method_handler(stream_unary_authorized, **codecs)
        stream_stream = behaviours.stream_stream
        if inspect.iscoroutinefunction(stream_stream):

            async def stream_stream_writer(requests: Any, context: Any) -> None:
                await admit(context)
                await stream_stream(requests, context)

            return grpc.stream_stream_rpc_method_handler(stream_stream_writer, **codecs)

        async def stream_stream_authorized(requests: Any, context: Any) -> AsyncIterator[Any]:
            await admit(context)
            async for item in stream_stream(requests, context):
                yield item

        return grpc.stream_stream_rpc_method_handler(stream_stream_authorized, **codecs)
