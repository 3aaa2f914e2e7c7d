"""Requests that are no protobuf of their method answer INVALID_ARGUMENT, not UNKNOWN.

grpc runs a handler's request deserializer before any interceptor's behaviour, and a parse error
there reaches the caller as UNKNOWN with the exception's text (and an error log with a traceback).
This interceptor wraps the deserializer so a malformed request becomes a marker, and the behaviour,
which runs after the authorizer has admitted the caller, refuses the marker cleanly.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

__all__ = ["MALFORMED_DETAILS", "MalformedRequests"]

logger = logging.getLogger(__name__)

MALFORMED_DETAILS = "malformed request"


class _Malformed:
    """Stands for a request whose bytes did not parse."""


_MALFORMED = _Malformed()


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # any parse failure: the bytes are not a request of this method
            return _MALFORMED

    return deserialize


async def _refuse(method: str, context: aio.ServicerContext[Any, Any]) -> None:
    logger.warning("refused a malformed request to %s", method)
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED_DETAILS)


def _wrap(
    handler: grpc.RpcMethodHandler[Any, Any], method: str, deserializer: Callable[[bytes], Any]
) -> grpc.RpcMethodHandler[Any, Any]:
    codecs = {
        "request_deserializer": _tolerant(deserializer),
        "response_serializer": handler.response_serializer,
    }
    behaviours: Any = handler  # typed as sync callables by the stubs; coroutines under grpc.aio
    if handler.unary_unary is not None:
        unary_unary = behaviours.unary_unary

        async def checked_unary(request: Any, context: Any) -> Any:
            if request is _MALFORMED:
                await _refuse(method, context)
            return await unary_unary(request, context)

        return grpc.unary_unary_rpc_method_handler(checked_unary, **codecs)
    unary_stream = behaviours.unary_stream
    if inspect.iscoroutinefunction(unary_stream):

        async def checked_writer(request: Any, context: Any) -> None:
            if request is _MALFORMED:
                await _refuse(method, context)
            await unary_stream(request, context)

        return grpc.unary_stream_rpc_method_handler(checked_writer, **codecs)

    async def checked_stream(request: Any, context: Any) -> AsyncIterator[Any]:
        if request is _MALFORMED:
            await _refuse(method, context)
        async for item in unary_stream(request, context):
            yield item

    return grpc.unary_stream_rpc_method_handler(checked_stream, **codecs)


class MalformedRequests(aio.ServerInterceptor):  # type: ignore[type-arg]
    """Place it after the authorizer: an unauthorized caller is denied before its bytes are judged."""

    def __init__(self) -> None:
        # Servers hand back the same handler object for a method every time: wrap each once.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        # Streamed requests (reflection) and handlers without a deserializer are left as they are.
        deserializer = handler.request_deserializer if handler is not None else None
        if handler is None or handler.request_streaming or deserializer is None:
            return handler
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = _wrap(handler, method, deserializer)
        self._wrapped[method] = (handler, wrapped)
        return wrapped
