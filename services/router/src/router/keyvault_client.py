"""The router's client for keyvault's Decrypt: one long-lived mTLS channel, typed failures.

Failures are sorted by what the caller can do about them: retry later (KeyServiceUnavailable), give
up on this credential (CredentialUnusable), or fix the deployment (KeyServiceMisconfigured). No
message ever carries the envelope or the secret.
"""

from __future__ import annotations

import logging

import grpc
from grpc import aio

from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard_common.bindings import binding_message
from switchyard_common.envelope import Binding
from switchyard_common.mtls import TLSFiles, channel_credentials

__all__ = [
    "CREDENTIAL_UNUSABLE_MESSAGE",
    "CredentialUnusable",
    "KeyResolutionError",
    "KeyServiceMisconfigured",
    "KeyServiceUnavailable",
    "KeyVaultClient",
]

# One message for every unusable credential: keyvault's refusal is uniform, so is ours.
CREDENTIAL_UNUSABLE_MESSAGE = "the stored credential cannot be used (revoked, replaced or damaged)"

logger = logging.getLogger(__name__)

_UNUSABLE = frozenset({grpc.StatusCode.INVALID_ARGUMENT})
_MISCONFIGURED = frozenset(
    {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNIMPLEMENTED}
)
# gRPC's reconnect backoff grows to 120 s by default: after a long keyvault outage the router would
# fail BYOK requests for up to two minutes after keyvault is back. Retry the connection at least
# every 2 s instead (a cheap TCP + TLS handshake to one in-cluster service).
_CHANNEL_OPTIONS = [("grpc.max_reconnect_backoff_ms", 2000)]


class KeyResolutionError(Exception):
    """A provider key could not be obtained."""


class KeyServiceUnavailable(KeyResolutionError):
    """keyvault is unreachable, overloaded or too slow; retrying later may succeed."""


class CredentialUnusable(KeyResolutionError):
    """keyvault refuses this envelope for good: revoked, tampered, or sealed for another binding."""

    def __init__(self, message: str = CREDENTIAL_UNUSABLE_MESSAGE) -> None:
        super().__init__(message)


class KeyServiceMisconfigured(KeyResolutionError):
    """keyvault rejects the router itself: wrong certificate identity or wrong service address."""


class KeyVaultClient:
    """Decrypts envelopes as the router identity over one mTLS channel; close with `aclose()`."""

    def __init__(self, address: str, tls_files: TLSFiles, timeout: float) -> None:
        self._address = address
        self._timeout = timeout
        self._channel = aio.secure_channel(address, channel_credentials(tls_files), options=_CHANNEL_OPTIONS)
        self._stub = keyvault_pb2_grpc.KeyVaultStub(self._channel)

    def __repr__(self) -> str:
        return f"KeyVaultClient(address={self._address!r}, timeout={self._timeout})"

    async def decrypt(self, envelope: bytes, binding: Binding) -> bytes:
        """The secret sealed in `envelope` for `binding`, or a KeyResolutionError."""
        request = keyvault_pb2.DecryptRequest(envelope=envelope, binding=binding_message(binding))
        try:
            reply = await self._stub.Decrypt(request, timeout=self._timeout)
        except aio.AioRpcError as exc:
            raise self._error(exc.code(), exc.details()) from None
        return reply.secret

    async def public_key(self) -> keyvault_pb2.GetPublicKeyResponse:
        """keyvault's current sealing key (kid + PEM): public, so it may be relayed as is."""
        try:
            return await self._stub.GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=self._timeout)
        except aio.AioRpcError as exc:
            raise self._error(exc.code(), exc.details()) from None

    async def aclose(self) -> None:
        await self._channel.close(None)

    async def __aenter__(self) -> KeyVaultClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def _error(self, code: grpc.StatusCode, details: str | None) -> KeyResolutionError:
        if code in _UNUSABLE:
            return CredentialUnusable()
        where = f"keyvault at {self._address}"
        if code in _MISCONFIGURED:
            misconfigured = KeyServiceMisconfigured(
                f"{where} refused the router ({code.name}: {details or '-'}); check ROUTER_TLS_CERT_FILE "
                "is the router's certificate and ROUTER_KEYVAULT_ADDRESS points at keyvault"
            )
            # Users only see "key service unavailable"; operators need to know why.
            logger.error("%s", misconfigured)
            return misconfigured
        return KeyServiceUnavailable(f"{where} unavailable ({code.name}: {details or '-'})")
