"""The keys one chat request may use, held until the router has started the provider call.

`lease_credentials` runs in a worker thread: it enters the in-process gate, opens a transaction and
reads the owners' usable credentials FOR KEY SHARE (PostgreSQL; SQLite ignores the clause). The
lock does not block other readers or the UPDATEs of status and last-used time, but a DELETE waits
for it, so a revocation cannot complete while a request that already read the key has yet to start
its provider call. `CredentialLease.release()` ends both as soon as the router reports the route.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from chat_api.credentials.gate import CredentialGate
from chat_api.credentials.models import Credential
from chat_api.orgs.models import OrgPolicy

__all__ = ["CredentialLease", "LeasedCredential", "PolicyRow", "lease_credentials"]


@dataclass(frozen=True, slots=True)
class LeasedCredential:
    id: uuid.UUID
    owner_type: str
    owner_id: uuid.UUID
    provider: str
    envelope: bytes
    status: str
    expires_at: datetime | None
    fallback_to_platform: bool


@dataclass(frozen=True, slots=True)
class PolicyRow:
    provider: str
    require_org_key: bool
    forbid_platform: bool


class CredentialLease:
    """Credentials and org policies for one request; `release()` is idempotent and thread-safe."""

    def __init__(
        self,
        *,
        session: Session | None,
        gate: CredentialGate,
        ticket: int,
        credentials: Sequence[LeasedCredential],
        policies: Sequence[PolicyRow],
    ) -> None:
        self.credentials = tuple(credentials)
        self.policies = tuple(policies)
        self._session = session
        self._gate = gate
        self._ticket = ticket
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        try:
            if self._session is not None:
                self._session.rollback()  # read-only: nothing to commit, the locks go either way
                self._session.close()
        finally:
            self._gate.leave(self._ticket)


def _owner_clause(user_id: uuid.UUID, org_id: uuid.UUID | None) -> object:
    mine = and_(Credential.owner_type == "user", Credential.owner_id == user_id)
    if org_id is None:
        return mine
    return or_(mine, and_(Credential.owner_type == "org", Credential.owner_id == org_id))


def lease_credentials(
    *,
    sessions: sessionmaker[Session],
    gate: CredentialGate,
    user_id: uuid.UUID,
    org_id: uuid.UUID | None,
    provider: str | None,
) -> CredentialLease:
    """Read (and lock) the caller's and its org's keys, for one provider or, for "auto", all."""
    owners = {user_id} if org_id is None else {user_id, org_id}
    ticket = gate.enter(owners)
    session = sessions()
    try:
        query = select(Credential).where(_owner_clause(user_id, org_id), Credential.revoking_at.is_(None))  # type: ignore[arg-type]
        if provider is not None:
            query = query.where(Credential.provider == provider)
        rows = session.scalars(query.with_for_update(read=True, key_share=True)).all()
        policies: list[PolicyRow] = []
        if org_id is not None:
            policy_query = select(OrgPolicy).where(OrgPolicy.org_id == org_id)
            if provider is not None:
                policy_query = policy_query.where(OrgPolicy.provider == provider)
            policies = [
                PolicyRow(p.provider, p.require_org_key, p.forbid_platform)
                for p in session.scalars(policy_query)
            ]
    except BaseException:
        session.close()
        gate.leave(ticket)
        raise
    leased = [
        LeasedCredential(
            id=row.id,
            owner_type=row.owner_type,
            owner_id=row.owner_id,
            provider=row.provider,
            envelope=row.envelope,
            status=row.status,
            expires_at=row.expires_at,
            fallback_to_platform=row.fallback_to_platform,
        )
        for row in rows
    ]
    if not leased:
        # Nothing locked: give the connection back now instead of holding it for the call.
        session.close()
        return CredentialLease(session=None, gate=gate, ticket=ticket, credentials=(), policies=policies)
    return CredentialLease(session=session, gate=gate, ticket=ticket, credentials=leased, policies=policies)
