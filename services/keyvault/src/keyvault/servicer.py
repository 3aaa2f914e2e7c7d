"""The KeyVault gRPC methods. Caller identity is established by SpiffeAuthorizer beforehand."""

from __future__ import annotations

import logging
from typing import NoReturn

import grpc
from cryptography.hazmat.primitives import serialization
from grpc import aio

from keyvault.audit import AuditRecord, AuditSink, AuditUnavailable
from keyvault.keyring import KeyRing
from keyvault.ratelimit import RateLimiter
from keyvault.revocations import RevocationList
from keyvault.unwrap import UNIFORM_MESSAGE, DecryptionFailed, Opened, open_envelope
from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard_common.authz import current_caller
from switchyard_common.bindings import binding_from_message
from switchyard_common.envelope import Binding, seal

__all__ = ["KeyVaultServicer"]

logger = logging.getLogger(__name__)

MAX_ENVELOPE_BYTES = 2 << 20
# The largest request keyvault reads: the largest envelope plus room for a binding. Anything larger
# is refused by gRPC (RESOURCE_EXHAUSTED) before it is parsed.
MAX_MESSAGE_BYTES = MAX_ENVELOPE_BYTES + (64 << 10)

Context = aio.ServicerContext[object, object]


class KeyVaultServicer(keyvault_pb2_grpc.KeyVaultServicer):
    def __init__(
        self,
        *,
        keyring: KeyRing,
        revocations: RevocationList,
        audit: AuditSink,
        limiter: RateLimiter,
    ) -> None:
        self.keyring = keyring
        self._revocations = revocations
        self._audit = audit
        self._limiter = limiter

    async def GetPublicKey(
        self, request: keyvault_pb2.GetPublicKeyRequest, context: Context
    ) -> keyvault_pb2.GetPublicKeyResponse:
        kid, key = self.keyring.newest()
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return keyvault_pb2.GetPublicKeyResponse(kid=kid, public_key_pem=pem.decode())

    async def Decrypt(
        self, request: keyvault_pb2.DecryptRequest, context: Context
    ) -> keyvault_pb2.DecryptResponse:
        opened = await self._open("decrypt", request.envelope, request.binding, context)
        return keyvault_pb2.DecryptResponse(secret=opened.secret, kid=opened.kid)

    async def Rewrap(
        self, request: keyvault_pb2.RewrapRequest, context: Context
    ) -> keyvault_pb2.RewrapResponse:
        opened = await self._open("rewrap", request.envelope, request.binding, context)
        binding = binding_from_message(request.binding)
        kid, key = self.keyring.newest()
        envelope = seal(opened.secret, public_key=key.public_key(), kid=kid, binding=binding)
        return keyvault_pb2.RewrapResponse(envelope=envelope, kid=kid, changed_kid=kid != opened.kid)

    async def _open(
        self, operation: str, envelope: bytes, binding_message: keyvault_pb2.Binding, context: Context
    ) -> Opened:
        """The one path to a plaintext: validate, rate-limit, check revocation, open, audit."""
        caller = current_caller()
        try:
            binding = binding_from_message(binding_message)
        except ValueError as exc:
            await self._refuse(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                str(exc),
                AuditRecord(operation, caller, "invalid_request", str(exc)),
            )
        record = _record(operation, caller, binding)
        if not self._limiter.allow(caller):
            await self._refuse(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "rate limit exceeded for this caller",
                record.with_outcome("rate_limited"),
            )
        if not self._revocations.ready:
            await self._refuse(
                context,
                grpc.StatusCode.UNAVAILABLE,
                "revocation list not synchronized yet",
                record.with_outcome("unavailable", "revocations not caught up"),
            )
        try:
            if len(envelope) > MAX_ENVELOPE_BYTES:
                raise DecryptionFailed("envelope too large")
            if self._revocations.is_revoked(binding.credential_id):
                raise DecryptionFailed("credential revoked")
            opened = open_envelope(self.keyring, envelope, binding)
        except DecryptionFailed as failure:
            await self._refuse(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                UNIFORM_MESSAGE,
                record.with_outcome("refused", failure.reason),
            )
        try:
            self._audit.write(record.with_outcome("ok", kid=opened.kid))
        except AuditUnavailable:
            logger.error("audit log unavailable: refusing %s", operation)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "audit log unavailable")
        return opened

    async def _refuse(
        self, context: Context, code: grpc.StatusCode, message: str, record: AuditRecord
    ) -> NoReturn:
        try:
            self._audit.write(record)
        except AuditUnavailable:
            logger.error("audit log unavailable while refusing %s", record.operation)
        await context.abort(code, message)


def _record(operation: str, caller: str, binding: Binding) -> AuditRecord:
    return AuditRecord(
        operation=operation,
        caller=caller,
        outcome="pending",
        credential_id=binding.credential_id,
        owner_type=binding.owner_type.value,
        owner_id=binding.owner_id,
        provider=binding.provider,
    )
