"""Seals new provider keys with keyvault's public key, fetched over mTLS and refreshed for rotation."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from grpc import aio

from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard_common.envelope import Binding, seal
from switchyard_common.mtls import TLSFiles, channel_credentials

__all__ = ["KeyServiceUnavailable", "Sealer"]

_CHANNEL_OPTIONS = [("grpc.max_reconnect_backoff_ms", 2000)]


class KeyServiceUnavailable(Exception):
    """keyvault's public key could not be fetched; nothing was stored."""


class Sealer:
    """Encrypts a secret for one credential binding; only keyvault can open the result."""

    def __init__(
        self, address: str, tls_files: TLSFiles, *, refresh_seconds: float, timeout: float = 5.0
    ) -> None:
        self._address = address
        self._refresh = refresh_seconds
        self._timeout = timeout
        self._tls_files = tls_files
        self._channel: aio.Channel | None = None
        self._key: tuple[int, rsa.RSAPublicKey] | None = None
        self._fetched_at = 0.0

    def __repr__(self) -> str:
        return f"Sealer(address={self._address!r})"

    async def seal(self, secret: bytes, binding: Binding) -> bytes:
        kid, public_key = await self._public_key()
        return seal(secret, public_key=public_key, kid=kid, binding=binding)

    async def _public_key(self) -> tuple[int, rsa.RSAPublicKey]:
        if self._key is not None and time.monotonic() - self._fetched_at < self._refresh:
            return self._key
        try:
            if self._channel is None:  # dialled inside the serving event loop, on first use
                credentials = channel_credentials(self._tls_files)
                self._channel = aio.secure_channel(self._address, credentials, options=_CHANNEL_OPTIONS)
            stub = keyvault_pb2_grpc.KeyVaultStub(self._channel)
            reply = await stub.GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=self._timeout)
        except aio.AioRpcError as exc:
            raise KeyServiceUnavailable(f"key service unavailable ({exc.code().name})") from None
        public_key = load_pem_public_key(reply.public_key_pem.encode())
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise KeyServiceUnavailable("key service returned a key that is not RSA")
        self._key, self._fetched_at = (reply.kid, public_key), time.monotonic()
        return self._key

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
