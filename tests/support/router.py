"""Start a real router in-process (mTLS, real keyvault, real NATS, the provider simulator) and
call it as chat-api would."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import nats
from grpc import aio

from router.config import Settings as RouterSettings
from router.server import RouterServer
from switchyard.events.v1 import credentials_pb2
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.envelope import Binding, OwnerType
from switchyard_common.events import publish_revocation
from switchyard_common.mtls import channel_credentials
from switchyard_common.providers import PROVIDERS
from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.keyvault import KeyVaultClient, TestPki, binding_to_proto

if TYPE_CHECKING:
    from switchyard.router.v1.router_pb2_grpc import RouterAsyncStub

# The platform's own access in tests: only these providers have a platform key.
PLATFORM_KEYS = {
    "openai": "sk-platform-openai-0000000000",
    "anthropic": "sk-ant-platform-000000000000",
    "google": "AIzaPlatformGoogle0000000000000000000",
}


# Short provider timeouts, so timeout tests are quick; no shutdown grace.
TEST_TIMEOUTS = {
    "connect_timeout_seconds": 2,
    "first_byte_timeout_seconds": 3,
    "stream_idle_timeout_seconds": 1,
    "shutdown_grace_seconds": 0,
}


def router_settings(
    *, pki: TestPki, keyvault_port: int, nats_url: str, sim: ProviderSimulator, **overrides: object
) -> RouterSettings:
    files = pki.files["router"]
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "health_port": 0,
        "keyvault_address": f"localhost:{keyvault_port}",
        "tls_ca_file": files.ca,
        "tls_cert_file": files.cert,
        "tls_key_file": files.key,
        "nats_url": nats_url,
        **TEST_TIMEOUTS,
    }
    for provider in PROVIDERS:
        values[f"{provider}_base_url"] = sim.base_url(provider)
    for provider, key in PLATFORM_KEYS.items():
        values[f"{provider}_platform_key"] = key
    values.update(overrides)
    return RouterSettings(**values)  # type: ignore[arg-type]


def user_key(provider: str) -> str:
    return f"sk-user-{provider}-{uuid.uuid4().hex[:16]}"


@dataclass
class StoredKey:
    """A credential as chat-api would hold it: its row fields and the sealed envelope."""

    binding: Binding
    envelope: bytes
    secret: str
    fallback: bool = False

    def message(self) -> router_pb2.Credential:
        return router_pb2.Credential(
            binding=binding_to_proto(self.binding),
            envelope=self.envelope,
            fallback_to_platform=self.fallback,
        )


async def store_key(
    vault: KeyVaultClient,
    provider: str,
    *,
    scope: str = "user",
    owner_id: str = "user-1",
    secret: str | None = None,
    fallback: bool = False,
) -> StoredKey:
    binding = Binding(f"cred-{scope}-{provider}-{uuid.uuid4().hex[:8]}", OwnerType(scope), owner_id, provider)
    secret = secret or user_key(provider)
    envelope = await vault.seal(binding, secret=secret.encode())
    return StoredKey(binding=binding, envelope=envelope, secret=secret, fallback=fallback)


def chat_request(
    model: str,
    text: str = "hello router",
    *,
    keys: Iterable[StoredKey] = (),
    policies: Sequence[router_pb2.ProviderPolicy] = (),
    user_id: str = "user-1",
    org_id: str = "org-1",
    max_output_tokens: int | None = None,
) -> router_pb2.ChatRequest:
    request = router_pb2.ChatRequest(
        request_id=uuid.uuid4().hex,
        user_id=user_id,
        org_id=org_id,
        model=model,
        messages=[router_pb2.Message(role=router_pb2.ROLE_USER, parts=[router_pb2.ContentPart(text=text)])],
        credentials=[key.message() for key in keys],
        policies=list(policies),
    )
    if max_output_tokens is not None:
        request.parameters.max_output_tokens = max_output_tokens
    return request


@dataclass
class ChatResult:
    events: list[router_pb2.ChatEvent] = field(default_factory=list)

    @property
    def route(self) -> router_pb2.Route | None:
        return next((e.route for e in self.events if e.HasField("route")), None)

    @property
    def text(self) -> str:
        return "".join(e.text_delta for e in self.events if e.HasField("text_delta"))

    @property
    def finish(self) -> router_pb2.Finish | None:
        return next((e.finish for e in self.events if e.HasField("finish")), None)

    @property
    def error(self) -> router_pb2.Error | None:
        return next((e.error for e in self.events if e.HasField("error")), None)


@dataclass
class RunningRouter:
    server: RouterServer
    pki: TestPki

    @property
    def port(self) -> int:
        return self.server.port

    def channel(self, identity: str = "chat-api") -> aio.Channel:
        return aio.secure_channel(f"localhost:{self.port}", channel_credentials(self.pki.files[identity]))

    async def chat(self, request: router_pb2.ChatRequest, identity: str = "chat-api") -> ChatResult:
        result = ChatResult()
        async with self.channel(identity) as channel:
            stub: RouterAsyncStub = router_pb2_grpc.RouterStub(channel)
            async for event in stub.Chat(request, timeout=20):
                result.events.append(event)
        return result

    async def complete(self, request: router_pb2.ChatRequest) -> router_pb2.CompleteResponse:
        async with self.channel() as channel:
            stub: RouterAsyncStub = router_pb2_grpc.RouterStub(channel)
            return await stub.Complete(request, timeout=20)


async def publish_revoked(nats_url: str, key: StoredKey, *, reason: str = "deleted by owner") -> float:
    """Revoke as chat-api does (on its own connection); returns when JetStream acknowledged it
    (time.monotonic())."""
    event = credentials_pb2.CredentialRevoked(
        event_id=uuid.uuid4().hex,
        credential_id=key.binding.credential_id,
        owner_type=binding_to_proto(key.binding).owner_type,
        owner_id=key.binding.owner_id,
        provider=key.binding.provider,
        reason=reason,
    )
    nc = await nats.connect(nats_url, connect_timeout=2, allow_reconnect=False)
    try:
        await publish_revocation(nc.jetstream(), event)
        return time.monotonic()
    finally:
        await nc.close()
