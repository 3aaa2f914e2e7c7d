"""Liveness and readiness probes.

/readyz checks the database only for now; NATS and router reachability join it when chat-api
starts using them (issue 4, Operations).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from chat_api.api.deps import SessionDep
from chat_api.core.problems import Unavailable

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Alive: the process answers HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(db_session: SessionDep) -> dict[str, str]:
    """Ready: the database answers a query."""
    try:
        db_session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("readiness: database unreachable: %s", type(exc).__name__)
        raise Unavailable("database unreachable") from None
    return {"status": "ok", "database": "ok"}
