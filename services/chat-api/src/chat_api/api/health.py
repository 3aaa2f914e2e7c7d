"""Liveness and readiness probes.

/readyz asks every dependency a request may need (database, NATS, router) at once and names the
ones that failed; a failure is logged and reported by name only, never with its URL or password.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from chat_api.api.deps import ServicesDep
from chat_api.core.problems import Unavailable

health_routes = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)

# A probe must answer before Kubernetes' own probe timeout (1 s by default, ours 3 s).
CHECK_TIMEOUT_SECONDS = 2.0
ROUTER_CHECK_SECONDS = 1.0


@health_routes.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers HTTP."""
    return {"status": "ok"}


@health_routes.get("/readyz")
async def readyz(services: ServicesDep) -> dict[str, str]:
    """Ready: the database answers a query, NATS is connected and the router is serving."""

    async def database() -> bool:
        # Sessions are synchronous; the query runs in the same thread pool as the routes.
        return await run_in_threadpool(_database_answers, services.sessions)

    async def nats() -> bool:
        return services.nats.connected

    async def router_serving() -> bool:
        return await services.router.serving(within=ROUTER_CHECK_SECONDS)

    checks = {"database": database, "nats": nats, "router": router_serving}
    results = await asyncio.gather(*(_passes(name, check) for name, check in checks.items()))
    failed = [name for name, ok in zip(checks, results, strict=True) if not ok]
    if failed:
        raise Unavailable(f"not ready: {', '.join(failed)} unavailable", failed=failed)
    return {"status": "ok", **dict.fromkeys(checks, "ok")}


async def _passes(name: str, check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            ok = await check()
    except Exception as exc:  # any failure means "not ready"; only its type is worth logging
        logger.warning("readiness: %s check failed: %s", name, type(exc).__name__)
        return False
    if not ok:
        logger.warning("readiness: %s unavailable", name)
    return ok


def _database_answers(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        session.execute(text("SELECT 1"))
    return True
