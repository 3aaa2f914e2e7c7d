"""Hostile gRPC input to keyvault over its real mTLS port: bytes that are no protobuf of the method,
fields of the wrong wire type, oversized messages and huge metadata get a clean status, and keyvault
goes on serving (health and a real Decrypt) afterwards."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from keyvault.servicer import MAX_MESSAGE_BYTES
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.envelope import Binding, OwnerType
from switchyard_common.malformed import MALFORMED_DETAILS
from tests.conftest import RunningKeyVault
from tests.support.grpc_hostile import (
    MALFORMED,
    WRONG_WIRE_TYPES,
    call_raw,
    huge_metadata,
)

DECRYPT = "/switchyard.keyvault.v1.KeyVault/Decrypt"
REWRAP = "/switchyard.keyvault.v1.KeyVault/Rewrap"
PUBLIC_KEY = "/switchyard.keyvault.v1.KeyVault/GetPublicKey"
BINDING = Binding("cred-hostile", OwnerType.USER, "user-1", "openai")


async def assert_still_serving(keyvault: RunningKeyVault) -> None:
    async with keyvault.channel("router") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    client = keyvault.client(binding=BINDING, secret=b"still-serving")
    try:
        reply = await client.decrypt(await client.seal())
        assert reply.secret == b"still-serving"
    finally:
        await client.close()


@pytest.mark.parametrize("payload", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_bytes_that_are_no_protobuf_are_invalid_argument(
    keyvault: RunningKeyVault, payload: bytes
) -> None:
    # Before: UNKNOWN, with the DecodeError's text sent to the caller and a traceback in the log.
    for identity, method in (("router", DECRYPT), ("key-rotation", REWRAP), ("chat-api", PUBLIC_KEY)):
        async with keyvault.channel(identity) as channel:
            code, details = await call_raw(channel, method, payload)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, code, details)
        assert details == MALFORMED_DETAILS
    await assert_still_serving(keyvault)


async def test_a_caller_that_may_not_call_the_method_is_denied_before_its_bytes_are_judged(
    keyvault: RunningKeyVault,
) -> None:
    async with keyvault.channel("chat-api") as channel:
        code, _ = await call_raw(channel, DECRYPT, MALFORMED["truncated-varint"])
    assert code == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("payload", list(WRONG_WIRE_TYPES.values()), ids=list(WRONG_WIRE_TYPES))
async def test_fields_of_the_wrong_type_are_refused_like_a_missing_field(
    keyvault: RunningKeyVault, payload: bytes
) -> None:
    # Protobuf keeps a field of an unexpected wire type as an unknown field, so the request arrives
    # without it: Decrypt refuses it exactly as a request missing its envelope or binding.
    async with keyvault.channel("router") as channel:
        code, details = await call_raw(channel, DECRYPT, payload)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    await assert_still_serving(keyvault)


async def test_a_message_over_the_limit_is_resource_exhausted(keyvault: RunningKeyVault) -> None:
    request = keyvault_pb2.DecryptRequest(envelope=b"\x00" * (MAX_MESSAGE_BYTES + 1))
    async with keyvault.channel("router") as channel:
        code, details = await call_raw(channel, DECRYPT, request.SerializeToString())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    await assert_still_serving(keyvault)


async def test_a_large_envelope_within_the_limit_is_refused_uniformly(keyvault: RunningKeyVault) -> None:
    client = keyvault.client(binding=BINDING)
    try:
        error = await client.decrypt_error(b"\x01" * (MAX_MESSAGE_BYTES - 4096))
    finally:
        await client.close()
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    await assert_still_serving(keyvault)


@pytest.mark.parametrize("size", [16 * 1024, 1024 * 1024])
async def test_huge_metadata_is_refused_and_the_server_survives(keyvault: RunningKeyVault, size: int) -> None:
    async with keyvault.channel("router") as channel:
        code, details = await call_raw(
            channel, DECRYPT, keyvault_pb2.DecryptRequest().SerializeToString(), metadata=huge_metadata(size)
        )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    assert "metadata size exceeds" in details
    await assert_still_serving(keyvault)


async def test_many_garbage_calls_in_a_row_leave_it_serving(keyvault: RunningKeyVault) -> None:
    async with keyvault.channel("router") as channel:
        for payload in [*MALFORMED.values(), *WRONG_WIRE_TYPES.values()] * 20:
            code, _ = await call_raw(channel, DECRYPT, payload)
            assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
    await assert_still_serving(keyvault)


async def test_an_unknown_method_is_unimplemented_or_denied(keyvault: RunningKeyVault) -> None:
    async with keyvault.channel("router") as channel:
        code, _ = await call_raw(channel, "/switchyard.keyvault.v1.KeyVault/DumpKeys", b"")
    assert code in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.PERMISSION_DENIED)
    await assert_still_serving(keyvault)
