"""Start real keyvault servers in-process (real mTLS, real NATS) and dial them as any identity."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from keyvault.config import Settings
from keyvault.server import KeyVaultServer
from keyvault.unwrap import UNIFORM_MESSAGE
from tests.support.teardown import bounded

if TYPE_CHECKING:
    from switchyard.keyvault.v1.keyvault_pb2_grpc import KeyVaultAsyncStub
from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard_common.bindings import binding_message as binding_to_proto
from switchyard_common.envelope import Binding, seal
from switchyard_common.mtls import TLSFiles, channel_credentials
from switchyard_dev import pki

# What every refusal to open an envelope looks like to the caller, as `status_of` gives it.
UNIFORM = (grpc.StatusCode.INVALID_ARGUMENT, UNIFORM_MESSAGE)
CALL_TIMEOUT = 10.0


@dataclass
class TestPki:
    """The platform CA with one identity per service, plus deliberately wrong certificates."""

    __test__ = False  # a fixture's type, not a test class

    directory: Path
    ca: pki.Authority
    files: dict[str, TLSFiles] = field(default_factory=dict)

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.pem"

    def add(self, name: str, issued: pki.Issued, ca_path: Path | None = None) -> TLSFiles:
        pki.write_issued(self.directory, name, issued)
        files = TLSFiles(
            ca=ca_path or self.ca_path,
            cert=self.directory / f"{name}.pem",
            key=self.directory / f"{name}-key.pem",
        )
        self.files[name] = files
        return files


def make_pki(directory: Path) -> TestPki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = pki.new_authority()
    (directory / "ca.pem").write_bytes(ca.pem)
    result = TestPki(directory=directory, ca=ca)
    for name in pki.SERVICES:
        result.add(name, pki.issue(ca, name, spiffe_ids=(pki.spiffe_id(name),)))
    # CN claims the router, SAN does not: must be treated as whatever its SAN says (nothing).
    result.add("cn-router-no-san", pki.issue(ca, "router"))
    result.add("cn-router-other-san", pki.issue(ca, "router", spiffe_ids=(pki.spiffe_id("chat-api"),)))
    expired_start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    result.add(
        "expired-router",
        pki.issue(
            ca, "router", spiffe_ids=(pki.spiffe_id("router"),), valid_days=1, not_before=expired_start
        ),
    )
    rogue = pki.new_authority("Rogue CA")
    rogue_ca = directory / "rogue-ca.pem"
    rogue_ca.write_bytes(rogue.pem)
    # Signed by a CA the server does not trust; it trusts our CA so only the server side fails.
    result.add("rogue-router", pki.issue(rogue, "router", spiffe_ids=(pki.spiffe_id("router"),)))
    return result


def keyvault_settings(
    *, pki_: TestPki, keys_dir: Path, nats_url: str, audit_path: Path, **overrides: object
) -> Settings:
    files = pki_.files["keyvault"]
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "health_port": 0,
        "keys_dir": keys_dir,
        "tls_ca_file": files.ca,
        "tls_cert_file": files.cert,
        "tls_key_file": files.key,
        "nats_url": nats_url,
        "audit_sink": str(audit_path),
        "shutdown_grace_seconds": 1,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def dial(port: int, files: TLSFiles) -> aio.Channel:
    return aio.secure_channel(f"localhost:{port}", channel_credentials(files))


def stub(channel: aio.Channel) -> KeyVaultAsyncStub:
    return keyvault_pb2_grpc.KeyVaultStub(channel)


async def started(settings: Settings, *, wait_ready: bool = True) -> KeyVaultServer:
    server = KeyVaultServer(settings)
    await server.start()
    if wait_ready:
        await server.revocations.wait_ready()
    return server


@asynccontextmanager
async def serving(settings: Settings, *, wait_ready: bool = True) -> AsyncIterator[KeyVaultServer]:
    """A started server for the `async with` block, stopped (grace 0) when it ends."""
    server = await started(settings, wait_ready=wait_ready)
    try:
        yield server
    finally:
        await bounded(server.stop(grace=0), "keyvault")


# --- calling it ----------------------------------------------------------------------------------


def decrypt_request(envelope: bytes, binding: Binding) -> keyvault_pb2.DecryptRequest:
    return keyvault_pb2.DecryptRequest(envelope=envelope, binding=binding_to_proto(binding))


def rewrap_request(envelope: bytes, binding: Binding) -> keyvault_pb2.RewrapRequest:
    return keyvault_pb2.RewrapRequest(envelope=envelope, binding=binding_to_proto(binding))


def status_of(error: aio.AioRpcError) -> tuple[grpc.StatusCode, str | None]:
    """The code and details of a failed call: compare with `UNIFORM`, or with another refusal."""
    return error.code(), error.details()


async def rpc_error(call: Awaitable[object]) -> aio.AioRpcError:
    """The error `call` fails with; the test fails if it succeeds."""
    with pytest.raises(aio.AioRpcError) as info:
        await call
    return info.value


async def probe_health(port: int, *, timeout: float) -> int:
    """Health over the plaintext probe port, as kubelet asks."""
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=timeout
        )
    return int(reply.status)


async def status_or_code(check: Awaitable[int]) -> int | str:
    """A health status, or the name of the gRPC error code while the server gives none."""
    try:
        return await check
    except aio.AioRpcError as exc:
        return exc.code().name


@dataclass
class KeyVaultClient:
    """Calls one keyvault as the identity each method is meant for: chat-api fetches the public key
    and seals, router decrypts, key-rotation rewraps (pass `identity` to call as someone else).

    `binding` and `secret` are what the methods use when not given one. With `keep_open` each
    identity's channel is dialled once and reused until `close()`; otherwise every call dials anew.
    """

    port: int
    pki: TestPki
    binding: Binding | None = None
    secret: bytes | None = None
    timeout: float | None = CALL_TIMEOUT
    keep_open: bool = False
    _open: dict[str, aio.Channel] = field(default_factory=dict, init=False, repr=False)

    @asynccontextmanager
    async def channel(self, identity: str) -> AsyncIterator[aio.Channel]:
        if not self.keep_open:
            async with dial(self.port, self.pki.files[identity]) as channel:
                yield channel
            return
        if identity not in self._open:
            self._open[identity] = dial(self.port, self.pki.files[identity])
        yield self._open[identity]

    async def close(self) -> None:
        for channel in self._open.values():
            await channel.close(None)
        self._open.clear()

    def _binding(self, binding: Binding | None) -> Binding:
        chosen = self.binding if binding is None else binding
        if chosen is None:
            raise ValueError("no binding given and the client has none of its own")
        return chosen

    async def public_key(self) -> tuple[int, rsa.RSAPublicKey]:
        async with self.channel("chat-api") as channel:
            reply = await stub(channel).GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=self.timeout)
        key = serialization.load_pem_public_key(reply.public_key_pem.encode())
        assert isinstance(key, rsa.RSAPublicKey)
        return reply.kid, key

    async def seal(self, binding: Binding | None = None, *, secret: bytes | None = None) -> bytes:
        """Seal as chat-api does: with the public key and kid keyvault hands out."""
        chosen = self.secret if secret is None else secret
        if chosen is None:
            raise ValueError("no secret given and the client has none of its own")
        kid, key = await self.public_key()
        return seal(chosen, public_key=key, kid=kid, binding=self._binding(binding))

    async def decrypt(
        self, envelope: bytes, binding: Binding | None = None, *, identity: str = "router"
    ) -> keyvault_pb2.DecryptResponse:
        request = decrypt_request(envelope, self._binding(binding))
        async with self.channel(identity) as channel:
            return await stub(channel).Decrypt(request, timeout=self.timeout)

    async def decrypt_error(
        self, envelope: bytes, binding: Binding | None = None, *, identity: str = "router"
    ) -> aio.AioRpcError:
        return await rpc_error(self.decrypt(envelope, binding, identity=identity))

    async def rewrap(
        self, envelope: bytes, binding: Binding | None = None, *, identity: str = "key-rotation"
    ) -> keyvault_pb2.RewrapResponse:
        request = rewrap_request(envelope, self._binding(binding))
        async with self.channel(identity) as channel:
            return await stub(channel).Rewrap(request, timeout=self.timeout)

    async def rewrap_error(
        self, envelope: bytes, binding: Binding | None = None, *, identity: str = "key-rotation"
    ) -> aio.AioRpcError:
        return await rpc_error(self.rewrap(envelope, binding, identity=identity))


__all__ = [
    "CALL_TIMEOUT",
    "UNIFORM",
    "KeyVaultClient",
    "TestPki",
    "binding_to_proto",
    "decrypt_request",
    "dial",
    "keyvault_pb2",
    "keyvault_settings",
    "make_pki",
    "probe_health",
    "rewrap_request",
    "rpc_error",
    "serving",
    "started",
    "status_of",
    "status_or_code",
    "stub",
]
