"""chat-api's client for the router: one long-lived mTLS channel, typed failures, cached catalog."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chat_api.upstream.sealer import KeyServiceUnavailable
from switchyard.keyvault.v1 import keyvault_pb2
from switchyard.router.v1 import router_pb2, router_pb2_grpc
from switchyard_common.bindings import binding_message
from switchyard_common.envelope import Binding
from switchyard_common.mtls import TLSFiles, channel_credentials

if TYPE_CHECKING:
    from switchyard.router.v1.router_pb2_grpc import RouterAsyncStub

__all__ = ["RouterClient", "RouterUnavailable"]

logger = logging.getLogger(__name__)

# Reconnect quickly after a router restart instead of gRPC's default backoff of up to 120 s.
_CHANNEL_OPTIONS = [("grpc.max_reconnect_backoff_ms", 2000)]


class RouterUnavailable(Exception):
    """The router could not be reached or broke off; the message names no key and no envelope."""


class RouterClient:
    """Calls the router as the chat-api identity; close with `aclose()`."""

    def __init__(self, address: str, tls_files: TLSFiles, *, timeout: float, verify_timeout: float) -> None:
        self._address = address
        self._timeout = timeout
        self._verify_timeout = verify_timeout
        self._tls_files = tls_files
        self._channel: aio.Channel | None = None
        self._router_stub: RouterAsyncStub | None = None
        self._models: list[router_pb2.Model] | None = None

    def __repr__(self) -> str:
        return f"RouterClient(address={self._address!r})"

    def _open(self) -> aio.Channel:
        # Dialled on first use, inside the serving event loop (an aio channel binds to its loop).
        if self._channel is None:
            credentials = channel_credentials(self._tls_files)
            self._channel = aio.secure_channel(self._address, credentials, options=_CHANNEL_OPTIONS)
        return self._channel

    @property
    def _stub(self) -> RouterAsyncStub:
        if self._router_stub is None:
            self._router_stub = router_pb2_grpc.RouterStub(self._open())
        return self._router_stub

    async def chat(self, request: router_pb2.ChatRequest) -> AsyncIterator[router_pb2.ChatEvent]:
        """The router's events for one request; RouterUnavailable if the call fails or breaks off."""
        call = self._stub.Chat(request, timeout=self._timeout)
        try:
            # read() rather than `async for`, which wraps every read in one more async generator;
            # whatever read() returns that is not an event is grpc.aio's EOF.
            while isinstance(event := await call.read(), router_pb2.ChatEvent):
                yield event
        except aio.AioRpcError as exc:
            raise self._unavailable(exc) from None
        finally:
            if not call.done():  # ended early (an answer is complete at its finish event)
                call.cancel()

    async def verify(self, envelope: bytes, binding: Binding) -> router_pb2.VerifyCredentialResponse:
        """A live check of a sealed key with its provider."""
        request = router_pb2.VerifyCredentialRequest(
            envelope=envelope, binding=binding_message(binding), provider=binding.provider
        )
        try:
            return await self._stub.VerifyCredential(request, timeout=self._verify_timeout)
        except aio.AioRpcError as exc:
            raise self._unavailable(exc) from None

    async def sealing_key(self) -> keyvault_pb2.GetPublicKeyResponse:
        """keyvault's current public key, relayed by the router; KeyServiceUnavailable if not."""
        try:
            return await self._stub.GetSealingKey(keyvault_pb2.GetPublicKeyRequest(), timeout=5)
        except aio.AioRpcError as exc:
            self._unavailable(exc)  # logs a refused identity for operators
            raise KeyServiceUnavailable(f"key service unavailable ({exc.code().name})") from None

    async def models(self) -> list[router_pb2.Model]:
        """The router's catalog; fetched once, since it changes only with a router release."""
        if self._models is None:
            try:
                reply = await self._stub.ListModels(router_pb2.ListModelsRequest(), timeout=10)
            except aio.AioRpcError as exc:
                raise self._unavailable(exc) from None
            self._models = list(reply.models)
        return self._models

    async def serving(self, within: float = 2.0) -> bool:
        """The router's own health service says SERVING."""
        try:
            health = health_pb2_grpc.HealthStub(self._open())
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=within)
        except aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)

    def _unavailable(self, exc: aio.AioRpcError) -> RouterUnavailable:
        code = exc.code()
        if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
            logger.error(
                "router at %s refused chat-api (%s); "
                "check CHAT_API_TLS_CERT_FILE and CHAT_API_ROUTER_ADDRESS",
                self._address,
                code.name,
            )
        return RouterUnavailable(f"router unavailable ({code.name})")
