"""Seals new provider keys with keyvault's public key, which the router relays (chat-api has no
network path to keyvault), refreshed now and then so a key rotation's new kid is picked up."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from switchyard.keyvault.v1 import keyvault_pb2
from switchyard_common.envelope import Binding, seal

__all__ = ["KeyServiceUnavailable", "Sealer"]

FetchPublicKey = Callable[[], Awaitable[keyvault_pb2.GetPublicKeyResponse]]


class KeyServiceUnavailable(Exception):
    """keyvault's public key could not be fetched; nothing was stored."""


class Sealer:
    """Encrypts a secret for one credential binding; only keyvault can open the result."""

    def __init__(self, fetch: FetchPublicKey, *, refresh_seconds: float) -> None:
        self._fetch = fetch
        self._refresh = refresh_seconds
        self._key: tuple[int, rsa.RSAPublicKey] | None = None
        self._fetched_at = 0.0

    async def seal(self, secret: bytes, binding: Binding) -> bytes:
        kid, public_key = await self._public_key()
        return seal(secret, public_key=public_key, kid=kid, binding=binding)

    async def _public_key(self) -> tuple[int, rsa.RSAPublicKey]:
        if self._key is not None and time.monotonic() - self._fetched_at < self._refresh:
            return self._key
        reply = await self._fetch()  # raises KeyServiceUnavailable
        public_key = load_pem_public_key(reply.public_key_pem.encode())
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise KeyServiceUnavailable("key service returned a key that is not RSA")
        self._key, self._fetched_at = (reply.kid, public_key), time.monotonic()
        return self._key
