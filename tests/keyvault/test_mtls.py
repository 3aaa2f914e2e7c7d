"""Who may talk to keyvault at all (mTLS), and who may call which method (SPIFFE ID in the SAN)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from keyvault.server import SERVICE_NAME, KeyVaultServer, authorization_policy
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.authz import ANY_AUTHENTICATED, Allow, SpiffeAuthorizer, current_caller
from switchyard_common.envelope import Binding, OwnerType
from switchyard_dev import pki
from tests.conftest import RunningKeyVault
from tests.support.keyvault import (
    CALL_TIMEOUT,
    KeyVaultClient,
    decrypt_request,
    dial,
    keyvault_settings,
    probe_health,
    rpc_error,
    serving,
    stub,
)
from tests.support.nats_server import NatsServer
from tests.support.ports import free_port

if TYPE_CHECKING:
    from tests.support.keyvault import TestPki

SECRET = b"sk-mtls-secret-0451"
BINDING = Binding("cred-mtls", OwnerType.USER, "user-1", "openai")
DECRYPT = f"/{SERVICE_NAME}/Decrypt"
HANDSHAKE_TIMEOUT = 5.0


@pytest.fixture
def client(keyvault: RunningKeyVault) -> KeyVaultClient:
    """Seals SECRET under BINDING as chat-api; each call may name the identity it is made as."""
    return keyvault.client(binding=BINDING, secret=SECRET)


def audit_lines(kv: RunningKeyVault) -> list[str]:
    if not kv.audit_path.exists():
        return []
    return kv.audit_path.read_text().splitlines()


# --- authorization over real mTLS -------------------------------------------------------------


async def test_router_may_decrypt(client: KeyVaultClient) -> None:
    """The positive control for the denials below: same envelope, the authorized identity."""
    envelope = await client.seal()
    reply = await client.decrypt(envelope, identity="router")
    assert reply.secret == SECRET


async def test_chat_api_gets_the_public_key_but_may_not_decrypt(
    client: KeyVaultClient, keyvault: RunningKeyVault
) -> None:
    envelope = await client.seal()  # GetPublicKey as chat-api succeeded inside
    error = await client.decrypt_error(envelope, identity="chat-api")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert SECRET not in str(error).encode()
    # Refused before the servicer: nothing was opened, so nothing was audited.
    assert audit_lines(keyvault) == []


async def test_router_may_not_rewrap(client: KeyVaultClient, keyvault: RunningKeyVault) -> None:
    envelope = await client.seal()
    error = await client.rewrap_error(envelope, identity="router")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert audit_lines(keyvault) == []


async def test_key_rotation_may_rewrap_but_not_decrypt(client: KeyVaultClient) -> None:
    envelope = await client.seal()
    error = await client.decrypt_error(envelope, identity="key-rotation")
    rewrapped = await client.rewrap(envelope, identity="key-rotation")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rewrapped.envelope  # the same identity is admitted to the method it is allowed


@pytest.mark.parametrize("identity", ["cn-router-no-san", "cn-router-other-san"])
async def test_common_name_is_not_identity(
    client: KeyVaultClient, keyvault: RunningKeyVault, identity: str
) -> None:
    """Both certificates say CN=router; only the SAN URI counts, and it is absent or chat-api."""
    envelope = await client.seal()
    error = await client.decrypt_error(envelope, identity=identity)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert audit_lines(keyvault) == []


async def test_certificate_without_spiffe_id_is_not_even_authenticated(keyvault: RunningKeyVault) -> None:
    async with keyvault.channel("cn-router-no-san") as channel:
        error = await rpc_error(
            stub(channel).GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=CALL_TIMEOUT)
        )
        health_error = await rpc_error(
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
        )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert health_error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_other_san_is_that_identity(keyvault: RunningKeyVault) -> None:
    """CN=router with the chat-api SAN is chat-api: it may fetch the public key like chat-api."""
    async with keyvault.channel("cn-router-other-san") as channel:
        reply = await stub(channel).GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=CALL_TIMEOUT)
    assert reply.kid == 1


# --- handshake failures ------------------------------------------------------------------------


# What the client sees when the server ends the handshake (it refuses the certificate, or sees no
# TLS at all), and when the client refuses the server's certificate. Nothing listening would give
# "Connection refused" instead: see the negative control below.
SERVER_REFUSED = "Socket closed"
CLIENT_REFUSED = "Tls handshake failed"


async def handshake_error(channel: aio.Channel) -> aio.AioRpcError:
    async with channel:
        return await rpc_error(
            stub(channel).GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=HANDSHAKE_TIMEOUT)
        )


async def assert_handshake_fails(keyvault: RunningKeyVault, channel: aio.Channel, reason: str) -> str:
    """The call over `channel` fails in the TLS handshake for `reason`, while a good channel to the
    same port, just before, is served: keyvault is listening, so the refusal is the handshake's and
    not the UNAVAILABLE that nothing listening also gives. Returns grpc's details."""
    async with keyvault.channel("router") as good:
        reply = await stub(good).GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=CALL_TIMEOUT)
    assert reply.kid == 1
    error = await handshake_error(channel)
    details = error.details() or ""
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error
    assert f"127.0.0.1:{keyvault.port}: {reason}" in details, details
    assert "Connection refused" not in details, details
    return details


async def test_nothing_listening_is_told_apart_from_a_failed_handshake(test_pki: TestPki) -> None:
    """The negative control of the handshake tests: a port bound but not listening refuses the
    connection, which the assertions above would not take for a handshake failure."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        error = await handshake_error(dial(port, test_pki.files["router"]))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "Connection refused" in (error.details() or ""), error.details()
    assert SERVER_REFUSED not in (error.details() or ""), error.details()


async def test_no_client_certificate_fails_the_handshake(keyvault: RunningKeyVault) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=keyvault.pki.ca_path.read_bytes())
    channel = aio.secure_channel(f"localhost:{keyvault.port}", credentials)
    await assert_handshake_fails(keyvault, channel, SERVER_REFUSED)


@pytest.mark.parametrize("identity", ["rogue-router", "expired-router"])
async def test_untrusted_client_certificate_fails_the_handshake(
    keyvault: RunningKeyVault, identity: str
) -> None:
    await assert_handshake_fails(keyvault, keyvault.channel(identity), SERVER_REFUSED)


async def test_plaintext_channel_fails(keyvault: RunningKeyVault) -> None:
    channel = aio.insecure_channel(f"localhost:{keyvault.port}")
    await assert_handshake_fails(keyvault, channel, SERVER_REFUSED)


async def test_client_refuses_a_server_outside_its_ca(keyvault: RunningKeyVault, test_pki: TestPki) -> None:
    """The router trusts only the platform CA: a client with another trust root gets nowhere."""
    files = test_pki.files["router"]
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(test_pki.directory / "rogue-ca.pem").read_bytes(),
        private_key=files.key.read_bytes(),
        certificate_chain=files.cert.read_bytes(),
    )
    channel = aio.secure_channel(f"localhost:{keyvault.port}", credentials)
    details = await assert_handshake_fails(keyvault, channel, CLIENT_REFUSED)
    assert "CERTIFICATE_VERIFY_FAILED" in details, details


# --- deny by default -----------------------------------------------------------------------------


async def test_method_without_policy_entry_is_denied(
    test_pki: TestPki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path
) -> None:
    settings = keyvault_settings(
        pki_=test_pki, keys_dir=keys_dir, nats_url=nats_server.url, audit_path=tmp_path / "audit.jsonl"
    )
    policy = {
        method: rule
        for method, rule in authorization_policy(settings).items()
        if not method.endswith("/GetPublicKey")
    }
    server = KeyVaultServer(settings, policy=policy)
    await server.start()
    try:
        await server.revocations.wait_ready()
        async with dial(server.port, test_pki.files["router"]) as channel:
            error = await rpc_error(
                stub(channel).GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=CALL_TIMEOUT)
            )
            # The same caller is still served where the policy names it.
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT
            )
    finally:
        await server.stop(grace=0)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert health.status == health_pb2.HealthCheckResponse.SERVING


# --- health and reflection -------------------------------------------------------------------------


async def test_health_check_and_watch_over_mtls(keyvault: RunningKeyVault) -> None:
    async with keyvault.channel("chat-api") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        overall = await health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
        service = await health.Check(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=CALL_TIMEOUT
        )
        unknown = await rpc_error(
            health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=CALL_TIMEOUT)
        )
        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=CALL_TIMEOUT)
        first = await watch.read()
        watch.cancel()
    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    assert service.status == health_pb2.HealthCheckResponse.SERVING
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert first.status == health_pb2.HealthCheckResponse.SERVING


async def _list_services(channel: aio.Channel) -> set[str]:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=CALL_TIMEOUT
    )
    names: set[str] = set()
    async for response in call:
        names.update(service.name for service in response.list_services_response.service)
    return names


async def test_reflection_lists_services_for_an_authenticated_caller(keyvault: RunningKeyVault) -> None:
    async with keyvault.channel("router") as channel:
        names = await _list_services(channel)
    assert names == {
        "switchyard.keyvault.v1.KeyVault",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


async def test_reflection_refused_without_spiffe_id(keyvault: RunningKeyVault) -> None:
    async with keyvault.channel("cn-router-no-san") as channel:
        # No request is written: the server refuses when the call opens, and a client write racing
        # that refusal would surface as a client-side INTERNAL instead of the server's status.
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(timeout=CALL_TIMEOUT)
        code = await call.code()
        details = await call.details()
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert details == "caller not authorized"


async def test_plaintext_health_port_serves_only_health(
    test_pki: TestPki, keys_dir: Path, nats_server: NatsServer, tmp_path: Path
) -> None:
    health_port = free_port()
    settings = keyvault_settings(
        pki_=test_pki,
        keys_dir=keys_dir,
        nats_url=nats_server.url,
        audit_path=tmp_path / "audit.jsonl",
        health_port=health_port,
    )
    async with serving(settings) as server:
        assert server.health_port == health_port
        # SERVING is set right after the revocation list becomes ready; allow it a moment.
        deadline = asyncio.get_running_loop().time() + CALL_TIMEOUT
        status = await probe_health(health_port, timeout=CALL_TIMEOUT)
        while (
            status != health_pb2.HealthCheckResponse.SERVING and asyncio.get_running_loop().time() < deadline
        ):
            await asyncio.sleep(0.02)
            status = await probe_health(health_port, timeout=CALL_TIMEOUT)
        assert status == health_pb2.HealthCheckResponse.SERVING
        async with aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            error = await rpc_error(
                stub(channel).GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=CALL_TIMEOUT)
            )
            decrypt_error = await rpc_error(
                stub(channel).Decrypt(decrypt_request(b"x", BINDING), timeout=CALL_TIMEOUT)
            )
            reflection_error = await rpc_error(_list_services(channel))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert decrypt_error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert reflection_error.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_health_is_not_serving_until_revocations_are_ready(
    test_pki: TestPki, keys_dir: Path, tmp_path: Path
) -> None:
    """No NATS reachable: the revocation list never catches up, so probes see NOT_SERVING."""
    settings = keyvault_settings(
        pki_=test_pki,
        keys_dir=keys_dir,
        nats_url=f"nats://127.0.0.1:{free_port()}",
        audit_path=tmp_path / "audit.jsonl",
        health_port=free_port(),
    )
    async with serving(settings, wait_ready=False) as server:
        status = await probe_health(server.health_port, timeout=CALL_TIMEOUT)
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING


# --- SpiffeAuthorizer / Allow as units ---------------------------------------------------------------


def test_allow_rules() -> None:
    router = pki.spiffe_id("router")
    only_router = Allow(identities=frozenset({router}))
    assert only_router.admits(router)
    assert not only_router.admits(pki.spiffe_id("chat-api"))
    assert not only_router.admits("")
    assert not Allow().admits(router)
    assert ANY_AUTHENTICATED.admits(router)
    assert ANY_AUTHENTICATED.admits(pki.spiffe_id("anything"))


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self, pems: list[bytes]) -> None:
        self._pems = pems
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": self._pems} if self._pems else {}

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise Aborted


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


async def _serve_unary(authorizer: SpiffeAuthorizer, method: str, context: FakeContext) -> str:
    async def behaviour(request: object, context: object) -> str:
        return current_caller()

    async def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_unary_rpc_method_handler(behaviour)

    handler: Any = await authorizer.intercept_service(continuation, Details(method))
    result: str = await handler.unary_unary(object(), context)
    return result


def _cert(test_pki: TestPki, *spiffe_ids: str) -> bytes:
    return pki.issue(test_pki.ca, "unit", spiffe_ids=spiffe_ids).cert_pem


@pytest.fixture
def authorizer() -> SpiffeAuthorizer:
    return SpiffeAuthorizer({DECRYPT: Allow(identities=frozenset({pki.spiffe_id("router")}))})


async def test_authorizer_admits_and_sets_current_caller(
    authorizer: SpiffeAuthorizer, test_pki: TestPki
) -> None:
    context = FakeContext([_cert(test_pki, pki.spiffe_id("router"))])
    assert await _serve_unary(authorizer, DECRYPT, context) == pki.spiffe_id("router")
    assert context.aborted is None


@pytest.mark.parametrize(
    ("method", "spiffe_ids"),
    [
        pytest.param(DECRYPT, ("spiffe://switchyard/chat-api",), id="other-identity"),
        pytest.param(DECRYPT, (), id="no-spiffe-id"),
        pytest.param(
            DECRYPT, ("spiffe://switchyard/router", "spiffe://switchyard/chat-api"), id="two-spiffe-ids"
        ),
        pytest.param(f"/{SERVICE_NAME}/Rewrap", ("spiffe://switchyard/router",), id="method-not-in-policy"),
        pytest.param(DECRYPT.lower(), ("spiffe://switchyard/router",), id="method-name-case"),
    ],
)
async def test_authorizer_denies(
    authorizer: SpiffeAuthorizer, test_pki: TestPki, method: str, spiffe_ids: tuple[str, ...]
) -> None:
    context = FakeContext([_cert(test_pki, *spiffe_ids)])
    with pytest.raises(Aborted):
        await _serve_unary(authorizer, method, context)
    assert context.aborted == (grpc.StatusCode.PERMISSION_DENIED, "caller not authorized")


async def test_authorizer_denies_without_any_certificate(authorizer: SpiffeAuthorizer) -> None:
    context = FakeContext([])
    with pytest.raises(Aborted):
        await _serve_unary(authorizer, DECRYPT, context)
    assert context.aborted is not None
    assert context.aborted[0] == grpc.StatusCode.PERMISSION_DENIED


async def test_authorizer_checks_streaming_methods_before_the_behaviour_runs(
    test_pki: TestPki,
) -> None:
    ran: list[str] = []

    async def stream(request: object, context: object) -> AsyncIterator[str]:
        ran.append("stream")
        yield "item"

    async def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_stream_rpc_method_handler(stream)

    authorizer = SpiffeAuthorizer({"/svc/Stream": ANY_AUTHENTICATED})
    handler: Any = await authorizer.intercept_service(continuation, Details("/svc/Stream"))
    denied = FakeContext([_cert(test_pki)])
    with pytest.raises(Aborted):
        async for _ in handler.unary_stream(object(), denied):
            pass
    assert ran == []
    admitted = FakeContext([_cert(test_pki, pki.spiffe_id("chat-api"))])
    assert [item async for item in handler.unary_stream(object(), admitted)] == ["item"]
    assert ran == ["stream"]


async def test_authorizer_wraps_reader_writer_streaming_handlers(test_pki: TestPki) -> None:
    """grpc_health's Watch is a coroutine that writes via context.write(), not an async generator;
    the wrapper must keep that shape (grpc picks the calling convention from it)."""
    written: list[str] = []

    async def watch(request: object, context: Any) -> None:
        written.append("update")

    async def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_stream_rpc_method_handler(watch)

    authorizer = SpiffeAuthorizer({"/svc/Watch": ANY_AUTHENTICATED})
    handler: Any = await authorizer.intercept_service(continuation, Details("/svc/Watch"))
    assert asyncio.iscoroutinefunction(handler.unary_stream)
    with pytest.raises(Aborted):
        await handler.unary_stream(object(), FakeContext([]))
    assert written == []
    await handler.unary_stream(object(), FakeContext([_cert(test_pki, pki.spiffe_id("router"))]))
    assert written == ["update"]


async def test_health_watch_refused_without_spiffe_id(keyvault: RunningKeyVault) -> None:
    async with keyvault.channel("cn-router-no-san") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT
        )
        error = await rpc_error(watch.read())
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
