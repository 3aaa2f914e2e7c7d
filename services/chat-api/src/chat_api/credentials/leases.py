"""The keys one chat request may use, held until the router has started the provider call.

`lease_credentials` runs in a worker thread: it opens a transaction and reads the owners' usable
credentials FOR KEY SHARE. The lock does not block other readers or the UPDATEs of status and
last-used time, but a DELETE waits for it, so a revocation cannot complete while a request that
already read the key has yet to start its provider call; a request that reads after the DELETE
committed does not find the row. `CredentialLease.release()` ends the transaction as soon as the
router reports the route.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session, sessionmaker

from chat_api.credentials.models import Credential
from chat_api.orgs.models import OrgPolicy

__all__ = ["CredentialLease", "LeasedCredential", "PolicyRow", "lease_credentials", "lease_in_session"]


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
        credentials: Sequence[LeasedCredential],
        policies: Sequence[PolicyRow],
    ) -> None:
        self.credentials = tuple(credentials)
        self.policies = tuple(policies)
        self._session = session
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        if self._session is not None:
            self._session.rollback()  # read-only: nothing to commit, the locks go either way
            self._session.close()


# In LeasedCredential's field order.
_LEASED_COLUMNS = (
    Credential.id,
    Credential.owner_type,
    Credential.owner_id,
    Credential.provider,
    Credential.envelope,
    Credential.status,
    Credential.expires_at,
    Credential.fallback_to_platform,
)


def _lease_query(
    *, with_org: bool, with_provider: bool
) -> Select[uuid.UUID, str, uuid.UUID, str, bytes, str, datetime | None, bool]:
    owned = and_(Credential.owner_type == "user", Credential.owner_id == bindparam("user_id"))
    if with_org:
        owned = or_(owned, and_(Credential.owner_type == "org", Credential.owner_id == bindparam("org_id")))
    query = select(*_LEASED_COLUMNS).where(owned, Credential.revoking_at.is_(None))
    if with_provider:
        query = query.where(Credential.provider == bindparam("provider"))
    return query.with_for_update(read=True, key_share=True)


def _policy_query(*, with_provider: bool) -> Select[str, bool, bool]:
    query = select(OrgPolicy.provider, OrgPolicy.require_org_key, OrgPolicy.forbid_platform)
    query = query.where(OrgPolicy.org_id == bindparam("org_id"))
    if with_provider:
        query = query.where(OrgPolicy.provider == bindparam("provider"))
    return query


# Built once, with bound parameters: building a statement (and its cache key) per request costs
# more CPU than running it. Keyed by (org given, provider given) and (provider given).
_LEASES = {(o, p): _lease_query(with_org=o, with_provider=p) for o in (False, True) for p in (False, True)}
_POLICIES = {p: _policy_query(with_provider=p) for p in (False, True)}


def lease_credentials(
    *,
    sessions: sessionmaker[Session],
    user_id: uuid.UUID,
    org_id: uuid.UUID | None,
    provider: str | None,
) -> CredentialLease:
    """Read (and lock) the caller's and its org's keys, for one provider or, for "auto", all."""
    return lease_in_session(session=sessions(), user_id=user_id, org_id=org_id, provider=provider)


def lease_in_session(
    *,
    session: Session,
    user_id: uuid.UUID,
    org_id: uuid.UUID | None,
    provider: str | None,
) -> CredentialLease:
    """`lease_credentials` in an open session, which the lease takes over (and closes).

    The session's transaction may already have read other rows: at READ COMMITTED (PostgreSQL's
    default) the credentials query still sees every revocation committed before it runs.
    """
    try:
        parameters = {"user_id": user_id, "org_id": org_id, "provider": provider}
        # Core on the session's connection (same transaction): plain rows, no ORM execution layer.
        connection = session.connection()
        rows = connection.execute(_LEASES[org_id is not None, provider is not None], parameters).all()
        policies: list[PolicyRow] = []
        if org_id is not None:
            found = connection.execute(_POLICIES[provider is not None], parameters)
            policies = [PolicyRow(*row) for row in found]
    except BaseException:
        session.close()
        raise
    leased = [LeasedCredential(*row) for row in rows]
    if not leased:
        # Nothing locked: give the connection back now instead of holding it for the call.
        session.close()
        return CredentialLease(session=None, credentials=(), policies=policies)
    return CredentialLease(session=session, credentials=leased, policies=policies)
