"""Settings → API keys: add, read, change and check a user's or an org's provider keys.

A key in plaintext lives only inside `add`, until it is sealed for its credential's binding; the
database, the logs and every response see the envelope and a masked hint only.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chat_api.core.columns import utcnow
from chat_api.core.problems import (
    Conflict,
    KeyRejected,
    KeyServiceUnavailable,
    NotFound,
    ProviderUnavailable,
    Unavailable,
)
from chat_api.credentials import revocation
from chat_api.credentials.key_shapes import hint
from chat_api.credentials.leases import lease_credentials
from chat_api.credentials.models import Credential
from chat_api.credentials.revocation import Owner, in_thread
from chat_api.credentials.schemas import KeyCreate, KeyRead, KeyStatus, KeyUpdate, KeyVerdict, VerifyResult
from chat_api.orgs.models import Org
from chat_api.upstream import sealer
from chat_api.upstream.router_client import RouterUnavailable
from switchyard.router.v1 import router_pb2
from switchyard_common.envelope import Binding, OwnerType

if TYPE_CHECKING:
    from chat_api.core.services import Services

__all__ = ["Owner", "add", "get", "key_read", "list_keys", "mark_invalid", "update_key", "verify"]

logger = logging.getLogger(__name__)

_VERDICTS: dict[int, KeyVerdict] = {
    router_pb2.VERDICT_VALID: "valid",
    router_pb2.VERDICT_REJECTED: "rejected",
    router_pb2.VERDICT_PROVIDER_UNREACHABLE: "unreachable",
}


def key_read(row: Credential) -> KeyRead:
    """The masked view of a key; `expired` once its expiry has passed."""
    expired = row.expires_at is not None and row.expires_at <= utcnow()
    status: KeyStatus = "expired" if expired else "invalid" if row.status == "invalid" else "active"
    return KeyRead(
        id=row.id,
        provider=row.provider,
        label=row.label,
        hint=row.hint,
        status=status,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        fallback_to_platform=row.fallback_to_platform,
    )


def _owned(owner: Owner) -> tuple[ColumnElement[bool], ...]:
    return (
        Credential.owner_type == owner.type.value,
        Credential.owner_id == owner.id,
        Credential.revoking_at.is_(None),
    )


def list_keys(*, db_session: Session, owner: Owner) -> list[Credential]:
    """The owner's keys, oldest first; keys being revoked are left out."""
    query = select(Credential).where(*_owned(owner)).order_by(Credential.created_at, Credential.id)
    return list(db_session.scalars(query))


def get(*, db_session: Session, owner: Owner, key_id: uuid.UUID) -> Credential:
    """One of the owner's keys; NotFound for anyone else's, so ids cannot be probed."""
    row = db_session.scalar(select(Credential).where(Credential.id == key_id, *_owned(owner)))
    if row is None:
        raise NotFound("no such key")
    return row


def _change(*, db_session: Session, owner: Owner, key_id: uuid.UUID, values: dict[str, Any]) -> Credential:
    # One statement, so a key deleted meanwhile is simply not found rather than a failed flush.
    if not values:
        return get(db_session=db_session, owner=owner, key_id=key_id)
    row = db_session.scalars(
        update(Credential)
        .where(Credential.id == key_id, *_owned(owner))
        .values(**values)
        .returning(Credential)
    ).first()
    if row is None:
        db_session.rollback()
        raise NotFound("no such key")
    db_session.commit()
    return row


def update_key(*, db_session: Session, owner: Owner, key_id: uuid.UUID, changes: KeyUpdate) -> Credential:
    """Change the label, the platform fallback or the expiry; fields not sent stay as they are."""
    values = changes.model_dump(exclude_unset=True)
    if values.get("fallback_to_platform", False) is None:
        del values["fallback_to_platform"]
    return _change(db_session=db_session, owner=owner, key_id=key_id, values=values)


def mark_invalid(*, db_session: Session, credential_id: uuid.UUID) -> bool:
    """Record a provider's rejection of a stored key; False when there is no such key (any more)."""
    changed = db_session.execute(
        update(Credential)
        .where(Credential.id == credential_id)
        .values(status="invalid", status_at=utcnow())
        .returning(Credential.id)
    ).first()
    db_session.commit()
    return changed is not None


async def _seal(services: Services, api_key: str, binding: Binding) -> bytes:
    try:
        return await services.sealer.seal(api_key.encode(), binding)
    except sealer.KeyServiceUnavailable:
        raise KeyServiceUnavailable("the key service is unavailable; nothing was stored") from None


async def _verdict(services: Services, envelope: bytes, binding: Binding) -> tuple[KeyVerdict, str]:
    try:
        reply = await services.router.verify(envelope, binding)
    except RouterUnavailable:
        raise Unavailable("the key could not be checked: the router is unavailable") from None
    verdict = _VERDICTS.get(reply.verdict)
    if verdict is None:
        raise Unavailable("the key could not be checked: the router gave no verdict")
    return verdict, reply.message


def _insert(
    *, db_session: Session, row: Credential, replaced: Credential | None, wait_seconds: float
) -> tuple[Credential, list[uuid.UUID]]:
    # The old key's deletion, its revocation event and the new key commit together or not at all.
    outbox_ids: list[uuid.UUID] = []
    if row.owner_type == OwnerType.ORG.value:
        # Share-lock the org: a concurrent org deletion (which refuses while keys exist) cannot
        # slip between its check and this insert and leave a key owned by no org.
        org = db_session.scalar(select(Org.id).where(Org.id == row.owner_id).with_for_update(read=True))
        if org is None:
            db_session.rollback()
            raise NotFound("no such organization")
    if replaced is not None:
        outbox_id = revocation.delete_and_announce(
            db_session=db_session, credential=replaced, reason="replaced", wait_seconds=wait_seconds
        )
        outbox_ids += [outbox_id] if outbox_id is not None else []
    db_session.add(row)
    try:
        db_session.commit()
    except IntegrityError:
        db_session.rollback()
        raise Conflict("another key for this provider was added at the same time; try again") from None
    return row, outbox_ids


async def _sealed(services: Services, owner: Owner, body: KeyCreate) -> tuple[Credential, Binding]:
    # The id comes first: the envelope is bound to it, and to the owner and the provider.
    credential_id = uuid.uuid4()
    binding = owner.binding(credential_id=credential_id, provider=body.provider)
    api_key = body.api_key.get_secret_value()
    row = Credential(
        id=credential_id,
        owner_type=owner.type.value,
        owner_id=owner.id,
        provider=body.provider,
        label=body.label,
        hint=hint(body.provider, api_key),
        envelope=await _seal(services, api_key, binding),
        status="active",
        fallback_to_platform=body.fallback_to_platform,
        created_at=utcnow(),
        expires_at=body.expires_at,
    )
    return row, binding


async def _require_valid(services: Services, envelope: bytes, binding: Binding) -> None:
    verdict, _ = await _verdict(services, envelope, binding)
    if verdict == "rejected":
        raise KeyRejected("the provider rejected this key; nothing was saved")
    if verdict == "unreachable":
        raise ProviderUnavailable("the provider could not be reached to check this key; nothing was saved")


async def add(*, services: Services, db_session: Session, owner: Owner, body: KeyCreate) -> Credential:
    """Seal (and optionally check) a new key, replacing the owner's key for that provider, if any."""
    row, binding = await _sealed(services, owner, body)
    if body.verify:
        await _require_valid(services, row.envelope, binding)
    replaced = await in_thread(
        revocation.mark_revoking, db_session=db_session, owner=owner, provider=body.provider
    )
    row, outbox_ids = await in_thread(
        _insert,
        db_session=db_session,
        row=row,
        replaced=replaced,
        wait_seconds=services.settings.revocation_wait_seconds,
    )
    logger.info("credential %s (%s) added", row.id, row.provider)
    if replaced is not None:
        logger.info("credential %s (%s) replaced by %s", replaced.id, replaced.provider, row.id)
    await revocation.publish(services=services, outbox_ids=outbox_ids)
    return row


async def verify(
    *, services: Services, db_session: Session, owner: Owner, user_id: uuid.UUID, key_id: uuid.UUID
) -> VerifyResult:
    """A live check of a stored key; `rejected` marks it invalid, `valid` active again."""
    # Leased like a chat request's keys, so a DELETE waits until this provider call is over.
    lease = await in_thread(
        lease_credentials,
        sessions=services.sessions,
        user_id=user_id,
        org_id=owner.id if owner.type is OwnerType.ORG else None,
        provider=None,
    )
    try:
        leased = next(
            (c for c in lease.credentials if c.id == key_id and c.owner_type == owner.type.value), None
        )
        if leased is None:
            raise NotFound("no such key")
        binding = owner.binding(credential_id=key_id, provider=leased.provider)
        verdict, message = await _verdict(services, leased.envelope, binding)
    finally:
        await in_thread(lease.release)
    status = {"valid": "active", "rejected": "invalid"}.get(verdict)
    values = {"status": status, "status_at": utcnow()} if status is not None else {}
    row = await in_thread(_change, db_session=db_session, owner=owner, key_id=key_id, values=values)
    logger.info("credential %s (%s) verified: %s", row.id, row.provider, verdict)
    return VerifyResult(verdict=verdict, message=message, key=key_read(row))
