"""Everything a request handler may need beyond its database session, built once per app."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from chat_api.accounts.auth_cache import AuthCache
from chat_api.core.config import Settings
from chat_api.credentials.invalid_consumer import InvalidKeyConsumer
from chat_api.events.nats_link import NatsLink
from chat_api.outbox.relay import OutboxRelay
from chat_api.upstream.router_client import RouterClient
from chat_api.upstream.sealer import Sealer
from chat_api.usage.writer import UsageWriter

__all__ = ["LEASE_RELEASE_THREADS", "Services", "build_services"]

# Threads that only end credential leases (a rollback on a connection the lease already holds).
LEASE_RELEASE_THREADS = 8


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    router: RouterClient
    sealer: Sealer
    nats: NatsLink
    relay: OutboxRelay
    invalid_keys: InvalidKeyConsumer
    usage: UsageWriter
    auth_cache: AuthCache
    # A lease holds a pooled connection until its release, so releases must not queue for anyio's
    # shared worker threads: under a burst, every one of those can be waiting for a pooled
    # connection that only a release would return, and nothing moves until the pool times out.
    lease_releases: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(LEASE_RELEASE_THREADS)
    )

    def start(self) -> None:
        """Background work: usage writer, NATS, outbox relay, invalid-key consumer. Needs a running loop."""
        self.usage.start()
        self.nats.start()
        self.relay.start()
        self.invalid_keys.start()

    async def stop(self) -> None:
        await self.usage.stop()  # the requests have ended: write their usage while the pool is open
        await self.invalid_keys.stop()
        await self.relay.stop()
        await self.nats.stop()
        await self.router.aclose()
        self.engine.dispose()


def build_services(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Services:
    """The composition root's clients; gRPC channels are created lazily, so no loop is needed yet."""
    tls = settings.tls_files()
    nats = NatsLink(settings.nats_servers(), retention_days=settings.revocation_retention_days)
    router = RouterClient(
        settings.router_address,
        tls,
        timeout=settings.router_timeout_seconds,
        verify_timeout=settings.verify_timeout_seconds,
    )
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        router=router,
        sealer=Sealer(router.sealing_key, refresh_seconds=settings.public_key_refresh_seconds),
        nats=nats,
        relay=OutboxRelay(
            sessions=sessions,
            nats=nats,
            retry_seconds=settings.outbox_retry_seconds,
            retry_max_seconds=settings.outbox_retry_max_seconds,
        ),
        invalid_keys=InvalidKeyConsumer(sessions=sessions, nats=nats),
        usage=UsageWriter(
            sessions=sessions, interval=settings.usage_flush_seconds, max_rows=settings.usage_flush_rows
        ),
        auth_cache=AuthCache(ttl=settings.auth_cache_seconds),
    )
