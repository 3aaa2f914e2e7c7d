"""Raw gRPC calls for hostile-input tests: bytes sent as they are, with no serializer in the way."""

from __future__ import annotations

import grpc
from grpc import aio

__all__ = ["MALFORMED", "WRONG_WIRE_TYPES", "call_raw", "call_raw_stream", "huge_metadata"]

# Not a protobuf of any message: each fails to parse.
MALFORMED: dict[str, bytes] = {
    "truncated-varint": b"\x08",
    "length-past-end": b"\x0a\xff\xff\xff\x0f" + b"x",
    "invalid-wire-type": b"\x0f\x01",
    "stray-end-group": b"\x0c",
    "overlong-varint": b"\x08" + b"\xff" * 10 + b"\x01",
    "overlong-length": b"\x0a" + b"\x80" * 11,
}

# Well-formed protobuf whose fields 1 and 2 have another wire type than the schema's (a varint, a
# fixed32, a fixed64 where bytes or a message belong): parsed as unknown fields, so they arrive empty.
WRONG_WIRE_TYPES: dict[str, bytes] = {
    "varint-for-bytes": b"\x08\x96\x01",
    "fixed32-for-message": b"\x15\x01\x02\x03\x04",
    "fixed64-for-bytes": b"\x09" + b"\x01" * 8,
    "all-of-them": b"\x08\x96\x01\x15\x01\x02\x03\x04\x19" + b"\x02" * 8,
}


def huge_metadata(size: int) -> tuple[tuple[str, str], ...]:
    return (("x-hostile", "a" * size),)


async def call_raw(
    channel: aio.Channel,
    method: str,
    payload: bytes,
    *,
    metadata: tuple[tuple[str, str], ...] | None = None,
    timeout: float = 10,
) -> tuple[grpc.StatusCode, str]:
    """Call a unary method with `payload` as the serialized request: its status code and details."""
    call = channel.unary_unary(method, None, None)  # no serializers: bytes in, bytes out
    try:
        await call(payload, metadata=metadata, timeout=timeout)
    except aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


async def call_raw_stream(
    channel: aio.Channel,
    method: str,
    payload: bytes,
    *,
    metadata: tuple[tuple[str, str], ...] | None = None,
    timeout: float = 10,
) -> tuple[grpc.StatusCode, str]:
    """As `call_raw`, for a server-streaming method (the stream is read to its end)."""
    call = channel.unary_stream(method, None, None)
    try:
        async for _ in call(payload, metadata=metadata, timeout=timeout):
            pass
    except aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""
