"""Hostile gRPC input to the router over its real mTLS port: bytes that are no protobuf of the method,
fields of the wrong wire type, invalid UTF-8 in a string field, an oversized request and huge
metadata get a clean status, and the router goes on serving (health, the catalog and a chat)."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from router.server import RouterServer
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.malformed import MALFORMED_DETAILS
from switchyard_dev.provider_sim import ProviderSimulator
from tests.conftest import RunningKeyVault
from tests.support.grpc_hostile import (
    MALFORMED,
    WRONG_WIRE_TYPES,
    call_raw,
    call_raw_stream,
    huge_metadata,
)
from tests.support.keyvault import TestPki
from tests.support.nats_server import NatsServer
from tests.support.router import RunningRouter, chat_request, router_settings
from tests.support.teardown import bounded

SERVICE = "/switchyard.router.v1.Router/"
UNARY = ("Complete", "ListModels", "VerifyCredential")
MODEL = "openai/gpt-5.4-mini"
# gRPC's default receive limit, which the router relies on (it sets none of its own).
GRPC_DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


async def assert_still_serving(router: RunningRouter) -> None:
    async with router.channel() as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        models = await router_pb2_grpc.RouterStub(channel).ListModels(
            router_pb2.ListModelsRequest(), timeout=5
        )
        assert any(model.id == MODEL for model in models.models)
    result = await router.chat(chat_request(MODEL, "still serving?"))
    assert result.events[-1].WhichOneof("event") == "finish", result.events[-1]


@pytest.mark.parametrize("payload", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_bytes_that_are_no_protobuf_are_invalid_argument(router: RunningRouter, payload: bytes) -> None:
    async with router.channel() as channel:
        code, details = await call_raw_stream(channel, SERVICE + "Chat", payload)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, ("Chat", code, details)
        assert details == MALFORMED_DETAILS
        for method in UNARY:
            code, details = await call_raw(channel, SERVICE + method, payload)
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, code, details)
            assert details == MALFORMED_DETAILS
    await assert_still_serving(router)


async def test_invalid_utf8_in_a_string_field_is_invalid_argument(router: RunningRouter) -> None:
    model_field = b"\x22\x03\xff\xfe\xfd"  # field 4 (model), a string, with bytes that are not UTF-8
    async with router.channel() as channel:
        code, details = await call_raw_stream(channel, SERVICE + "Chat", model_field)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    await assert_still_serving(router)


@pytest.mark.parametrize("payload", list(WRONG_WIRE_TYPES.values()), ids=list(WRONG_WIRE_TYPES))
async def test_fields_of_the_wrong_type_are_refused_like_missing_ones(
    router: RunningRouter, payload: bytes
) -> None:
    # They parse as unknown fields: the request arrives without request id, user, model or messages,
    # and the router answers as it does any incomplete request: one INVALID_REQUEST error event.
    async with router.channel() as channel:
        chat = channel.unary_stream(SERVICE + "Chat", None, router_pb2.ChatEvent.FromString)
        events = [event async for event in chat(payload, timeout=10)]
        complete = channel.unary_unary(SERVICE + "Complete", None, router_pb2.CompleteResponse.FromString)
        response = await complete(payload, timeout=10)
    [event] = events
    assert event.error.type == router_pb2.ERROR_TYPE_INVALID_REQUEST, event
    assert response.error.type == router_pb2.ERROR_TYPE_INVALID_REQUEST, response
    await assert_still_serving(router)


async def test_a_request_over_the_receive_limit_is_resource_exhausted(router: RunningRouter) -> None:
    request = chat_request(MODEL, "x" * (GRPC_DEFAULT_MAX_MESSAGE_BYTES + 1))
    async with router.channel() as channel:
        code, details = await call_raw_stream(channel, SERVICE + "Chat", request.SerializeToString())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    await assert_still_serving(router)


@pytest.mark.parametrize("size", [16 * 1024, 1024 * 1024])
async def test_huge_metadata_is_resource_exhausted(router: RunningRouter, size: int) -> None:
    payload = chat_request(MODEL).SerializeToString()
    async with router.channel() as channel:
        code, details = await call_raw_stream(
            channel, SERVICE + "Chat", payload, metadata=huge_metadata(size)
        )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    await assert_still_serving(router)


async def test_a_caller_other_than_chat_api_is_denied_before_its_bytes_are_judged(
    router: RunningRouter,
) -> None:
    async with router.channel("keyvault") as channel:
        code, _ = await call_raw(channel, SERVICE + "Complete", MALFORMED["truncated-varint"])
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_many_garbage_calls_in_a_row_leave_it_serving(router: RunningRouter) -> None:
    async with router.channel() as channel:
        for payload in [*MALFORMED.values(), b"\x22\x01\xff"] * 20:
            code, _ = await call_raw_stream(channel, SERVICE + "Chat", payload)
            assert code == grpc.StatusCode.INVALID_ARGUMENT
    await assert_still_serving(router)


async def test_the_receive_limit_is_a_setting(
    test_pki: TestPki, keyvault: RunningKeyVault, nats_server: NatsServer, provider_sim: ProviderSimulator
) -> None:
    settings = router_settings(
        pki=test_pki,
        keyvault_port=keyvault.port,
        nats_url=nats_server.url,
        sim=provider_sim,
        max_message_bytes=256 * 1024,
    )
    server = RouterServer(settings)
    await server.start()
    try:
        running = RunningRouter(server=server, pki=test_pki)
        request = chat_request(MODEL, "x" * (256 * 1024 + 1))
        async with running.channel() as channel:
            code, _ = await call_raw_stream(channel, SERVICE + "Chat", request.SerializeToString())
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        await assert_still_serving(running)
    finally:
        await bounded(server.stop(grace=0), "the router")
