"""`python -m chat_api.jobs.revoke_owner --user ID | --org ID`: revoke every key of one user or org, and
(for a user) every session and API token, as an operator — e.g. for a compromised account.

Each key goes through a DELETE's steps: `revoking_at` is set for all of them first (no new request
picks them up from then on), then each row is deleted together with its CredentialRevoked outbox
event in one transaction. On PostgreSQL that DELETE waits for the KEY SHARE locks of requests, on
any chat-api replica, that read the key before the mark and have not reached their provider yet.
The running chat-api replicas' outbox relays publish the events to JetStream. Reads only
CHAT_API_DATABASE_URL; it never sees a key.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from chat_api.accounts.models import AccessToken
from chat_api.core.columns import utcnow
from chat_api.core.db import make_engine, make_sessionmaker
from chat_api.credentials.models import Credential
from chat_api.credentials.revocation import delete_and_announce
from chat_api.jobs.migrate import DatabaseUnreachable, MigrationSettings
from switchyard_common.entrypoint import run_service
from switchyard_common.logs import configure_logging

__all__ = ["main", "revoke_owner"]

logger = logging.getLogger("chat_api.jobs.revoke_owner")
REASON = "revoked by an operator"


def revoke_owner(*, db_session: Session, owner_type: str, owner_id: uuid.UUID) -> tuple[int, int]:
    """(keys revoked, tokens revoked) for this owner; idempotent."""
    owned = (Credential.owner_type == owner_type, Credential.owner_id == owner_id)
    db_session.execute(
        update(Credential).where(*owned, Credential.revoking_at.is_(None)).values(revoking_at=utcnow())
    )
    tokens = 0
    if owner_type == "user":
        result = db_session.execute(
            update(AccessToken)
            .where(AccessToken.user_id == owner_id, AccessToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        tokens = int(result.rowcount or 0)  # type: ignore[attr-defined]
    db_session.commit()  # step 1 for every key at once: hidden from new requests from here on
    keys = 0
    for credential in db_session.scalars(select(Credential).where(*owned)).all():
        if delete_and_announce(db_session=db_session, credential=credential, reason=REASON) is not None:
            keys += 1
        db_session.commit()
        logger.info("credential %s (%s) revoked by an operator", credential.id, credential.provider)
    return keys, tokens


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chat_api.jobs.revoke_owner", description=__doc__)
    whose = parser.add_mutually_exclusive_group(required=True)
    whose.add_argument("--user", type=uuid.UUID, help="a user id: their keys, sessions and API tokens")
    whose.add_argument("--org", type=uuid.UUID, help="an org id: the org's keys")
    args = parser.parse_args(argv)
    settings = MigrationSettings()  # type: ignore[call-arg]  # pydantic-settings fills it from env
    configure_logging("chat-api-revoke-owner", settings.log_level)
    owner_type, owner_id = ("user", args.user) if args.user is not None else ("org", args.org)
    engine = make_engine(settings.database_url.get_secret_value(), pool_size=1, max_overflow=0)
    try:
        with make_sessionmaker(engine)() as db_session:
            keys, tokens = revoke_owner(db_session=db_session, owner_type=owner_type, owner_id=owner_id)
    except OperationalError as exc:
        raise DatabaseUnreachable(f"database unreachable ({type(exc.orig).__name__})") from None
    finally:
        engine.dispose()
    logger.info("%s %s: %d keys and %d tokens revoked", owner_type, owner_id, keys, tokens)


def main() -> int:
    return run_service("chat-api-revoke-owner", "CHAT_API_", run, clean_errors=(DatabaseUnreachable,))


if __name__ == "__main__":
    sys.exit(main())
