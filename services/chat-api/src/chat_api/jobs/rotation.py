"""`python -m chat_api.jobs.rotation`: rewrap every stored provider key under keyvault's newest kid.

Runs as the key-rotation identity, the only one keyvault lets call `Rewrap`, which returns a new
envelope for the same binding: this job never holds a provider key. Rows are read in id order, a
batch at a time. An envelope already under the newest kid is left alone, so a run that stopped
half-way is resumed by running it again, and a finished run changes nothing. A new envelope
replaces the old one only while the row still holds the envelope that was rewrapped and is not
being revoked: a key replaced, revoked or deleted meanwhile is never overwritten.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import grpc
from grpc import aio
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from chat_api.core.db import make_engine, make_sessionmaker
from chat_api.credentials.models import Credential
from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard_common.bindings import binding_message
from switchyard_common.entrypoint import run_service
from switchyard_common.envelope import Binding, EnvelopeFormatError, OwnerType, parse
from switchyard_common.logs import configure_logging
from switchyard_common.mtls import channel_credentials
from switchyard_common.settings import MTLSSettings

if TYPE_CHECKING:
    from switchyard.keyvault.v1.keyvault_pb2_grpc import KeyVaultAsyncStub

__all__ = [
    "KeyServiceUnavailable",
    "NotRotationIdentity",
    "RotationIncomplete",
    "RotationReport",
    "RotationSettings",
    "main",
    "rotate",
]

logger = logging.getLogger("chat_api.jobs.rotation")

# keyvault is restarting, rate-limiting this caller, slow, or (mid-rollout) a replica that has not
# loaded the new kid yet: worth waiting for. Anything else is not.
_TRANSIENT = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED}
)
_MISCONFIGURED = frozenset({grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED})


class RotationSettings(MTLSSettings):
    """KEY_ROTATION_*: the database, keyvault, and the key-rotation identity's certificate."""

    model_config = SettingsConfigDict(env_prefix="KEY_ROTATION_", extra="ignore")

    database_url: SecretStr
    keyvault_address: str = "localhost:17310"
    batch_size: int = Field(default=200, gt=0)
    # keyvault rate-limits per caller (500/s by default) and each Rewrap is an RSA operation.
    concurrency: int = Field(default=8, gt=0)
    call_timeout_seconds: float = Field(default=10.0, gt=0)
    retries: int = Field(default=6, ge=0)
    log_level: str = "INFO"


class KeyServiceUnavailable(Exception):
    """keyvault did not rewrap within the retries; running the job again resumes the rotation."""


class NotRotationIdentity(Exception):
    """keyvault refuses this caller: the certificate is not spiffe://switchyard/key-rotation."""


class RotationIncomplete(Exception):
    """Some credentials could not be rewrapped; do not raise the kid floor yet."""


class DatabaseUnreachable(Exception):
    """The database did not answer; the message names no URL, so no password leaks."""


@dataclass
class RotationReport:
    target_kid: int
    examined: int = 0
    rewrapped: int = 0
    already_current: int = 0
    # Being revoked, or replaced/deleted while it was being rewrapped.
    skipped: int = 0
    # Credential ids keyvault would not open (revoked, below the kid floor, damaged).
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Row:
    id: uuid.UUID
    owner_type: str
    owner_id: uuid.UUID
    provider: str
    envelope: bytes
    revoking: bool

    def binding(self) -> keyvault_pb2.Binding:
        owner_type = OwnerType(self.owner_type)
        return binding_message(Binding(str(self.id), owner_type, str(self.owner_id), self.provider))


def _read_batch(sessions: sessionmaker[Session], after: uuid.UUID | None, limit: int) -> list[_Row]:
    query = select(
        Credential.id,
        Credential.owner_type,
        Credential.owner_id,
        Credential.provider,
        Credential.envelope,
        Credential.revoking_at,
    )
    if after is not None:
        query = query.where(Credential.id > after)
    with sessions() as session:
        rows = session.execute(query.order_by(Credential.id).limit(limit)).all()
    return [_Row(r[0], r[1], r[2], r[3], r[4], r[5] is not None) for r in rows]


def _store(sessions: sessionmaker[Session], rewrapped: Sequence[tuple[_Row, bytes]]) -> int:
    """Write the new envelopes where the row is unchanged; how many rows were written."""
    written = 0
    with sessions() as session:
        for row, envelope in rewrapped:
            # Updating a non-key column takes no lock that conflicts with in-flight chat requests'
            # KEY SHARE locks (credentials/leases.py); a DELETE in progress makes this wait, then miss.
            result = session.execute(
                update(Credential)
                .where(
                    Credential.id == row.id,
                    Credential.envelope == row.envelope,
                    Credential.revoking_at.is_(None),
                )
                .values(envelope=envelope)
            )
            written += result.rowcount  # type: ignore[attr-defined]  # a CursorResult for UPDATE
        session.commit()
    return written


@dataclass
class _Rewrapper:
    keyvault: KeyVaultAsyncStub
    target_kid: int
    timeout: float
    retries: int

    async def rewrap(self, row: _Row) -> bytes | None:
        """The row's envelope under the target kid, or None when keyvault refuses to open it."""
        request = keyvault_pb2.RewrapRequest(envelope=row.envelope, binding=row.binding())
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                reply = await self.keyvault.Rewrap(request, timeout=self.timeout)
            except aio.AioRpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.INVALID_ARGUMENT:
                    return None
                if code in _MISCONFIGURED:
                    raise NotRotationIdentity(
                        f"keyvault refused Rewrap ({code.name}): KEY_ROTATION_TLS_CERT_FILE must "
                        "carry spiffe://switchyard/key-rotation, from the platform CA"
                    ) from None
                if code not in _TRANSIENT:
                    raise
                failure = code.name
            else:
                if reply.kid >= self.target_kid:
                    return reply.envelope
                failure = f"a keyvault replica still seals under kid {reply.kid}"
            if attempt < self.retries:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise KeyServiceUnavailable(f"keyvault could not rewrap ({failure}); run the job again to resume")


async def rotate(
    *,
    sessions: sessionmaker[Session],
    keyvault: KeyVaultAsyncStub,
    batch_size: int = 200,
    concurrency: int = 8,
    call_timeout: float = 10.0,
    retries: int = 6,
) -> RotationReport:
    """Rewrap every credential whose envelope is older than keyvault's newest kid."""
    try:
        newest = await keyvault.GetPublicKey(keyvault_pb2.GetPublicKeyRequest(), timeout=call_timeout)
    except aio.AioRpcError as exc:
        raise KeyServiceUnavailable(f"keyvault unreachable ({exc.code().name})") from None
    report = RotationReport(target_kid=newest.kid)
    rewrapper = _Rewrapper(keyvault, newest.kid, call_timeout, retries)
    slots = asyncio.Semaphore(concurrency)

    async def rewrap(row: _Row) -> bytes | None:
        async with slots:
            return await rewrapper.rewrap(row)

    after: uuid.UUID | None = None
    while rows := await asyncio.to_thread(_read_batch, sessions, after, batch_size):
        after = rows[-1].id
        report.examined += len(rows)
        stale = [row for row in rows if _needs_rewrap(row, report)]
        envelopes = await asyncio.gather(*(rewrap(row) for row in stale))
        done = []
        for row, envelope in zip(stale, envelopes, strict=True):
            if envelope is None:
                logger.warning(
                    "credential %s: keyvault refused to rewrap it (revoked, below the floor or damaged)",
                    row.id,
                )
                report.refused.append(str(row.id))
            else:
                done.append((row, envelope))
        written = await asyncio.to_thread(_store, sessions, done)
        report.rewrapped += written
        report.skipped += len(done) - written
        logger.info("rotation: %s examined, %s rewrapped so far", report.examined, report.rewrapped)
    return report


def _needs_rewrap(row: _Row, report: RotationReport) -> bool:
    if row.revoking:
        report.skipped += 1
        return False
    try:
        kid = parse(row.envelope).kid
    except EnvelopeFormatError:
        return True  # keyvault decides, and its refusal is recorded like any other
    if kid >= report.target_kid:
        report.already_current += 1
        return False
    return True


async def _rotate_with(settings: RotationSettings) -> RotationReport:
    engine = make_engine(settings.database_url.get_secret_value(), pool_size=1, max_overflow=0)
    channel = aio.secure_channel(settings.keyvault_address, channel_credentials(settings.tls_files()))
    try:
        return await rotate(
            sessions=make_sessionmaker(engine),
            keyvault=keyvault_pb2_grpc.KeyVaultStub(channel),
            batch_size=settings.batch_size,
            concurrency=settings.concurrency,
            call_timeout=settings.call_timeout_seconds,
            retries=settings.retries,
        )
    except OperationalError as exc:
        raise DatabaseUnreachable(f"database unreachable ({type(exc.orig).__name__})") from None
    finally:
        await channel.close(None)
        engine.dispose()


def run() -> None:
    settings = RotationSettings()  # type: ignore[call-arg]  # pydantic-settings fills it from env
    configure_logging("key-rotation", settings.log_level)
    report = asyncio.run(_rotate_with(settings))
    logger.info(
        "rotation to kid %s finished: %s examined, %s rewrapped, %s already current, %s skipped, %s refused",
        report.target_kid,
        report.examined,
        report.rewrapped,
        report.already_current,
        report.skipped,
        len(report.refused),
    )
    if report.refused:
        raise RotationIncomplete(
            f"{len(report.refused)} credential(s) could not be rewrapped to kid {report.target_kid} "
            "(ids in the log); keep the kid floor where it is"
        )


def main() -> int:
    errors = (KeyServiceUnavailable, NotRotationIdentity, RotationIncomplete, DatabaseUnreachable)
    return run_service("key-rotation", "KEY_ROTATION_", run, clean_errors=errors)


if __name__ == "__main__":
    sys.exit(main())
