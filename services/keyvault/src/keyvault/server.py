"""Composition root: build keyvault from Settings and serve it until told to stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from keyvault.audit import AuditSink, open_sink
from keyvault.config import Settings
from keyvault.keyring import KeyRingError, load_keyring
from keyvault.ratelimit import RateLimiter
from keyvault.revocations import RevocationList, RevocationSync
from keyvault.servicer import KeyVaultServicer
from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard_common.authz import ANY_AUTHENTICATED, Allow, SpiffeAuthorizer
from switchyard_common.logs import configure_logging
from switchyard_common.mtls import server_credentials

__all__ = ["KeyVaultServer", "PortInUse", "authorization_policy", "main_async"]

logger = logging.getLogger(__name__)

SERVICE_NAME = keyvault_pb2.DESCRIPTOR.services_by_name["KeyVault"].full_name
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
REFLECTION_SERVICE = reflection.SERVICE_NAME
# gRPC binds with SO_REUSEPORT by default: a second keyvault (or any SO_REUSEPORT listener) on
# the same port would silently share its traffic instead of failing with PortInUse.
NO_PORT_SHARING = [("grpc.so_reuseport", 0)]


class PortInUse(Exception):
    """A configured port could not be bound."""


def authorization_policy(settings: Settings) -> dict[str, Allow]:
    """Who may call what. A method missing here is denied to everyone."""
    method = f"/{SERVICE_NAME}/"
    return {
        method + "GetPublicKey": ANY_AUTHENTICATED,
        method + "Decrypt": Allow(identities=frozenset({settings.router_identity})),
        method + "Rewrap": Allow(identities=frozenset({settings.rotation_identity})),
        f"/{HEALTH_SERVICE}/Check": ANY_AUTHENTICATED,
        f"/{HEALTH_SERVICE}/Watch": ANY_AUTHENTICATED,
        f"/{REFLECTION_SERVICE}/ServerReflectionInfo": ANY_AUTHENTICATED,
    }


def _bind(server: aio.Server, address: str, credentials: grpc.ServerCredentials | None, setting: str) -> int:
    try:
        port = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError:
        port = 0
    if port == 0:
        raise PortInUse(f"cannot listen on {address}: the port is in use; set {setting} to a free port")
    return port


@dataclass
class KeyVaultServer:
    settings: Settings
    policy: dict[str, Allow] | None = None
    port: int = 0
    health_port: int = 0
    revocations: RevocationList = field(default_factory=RevocationList)
    _servers: list[aio.Server] = field(default_factory=list)
    _sync: RevocationSync | None = None
    _audit: AuditSink | None = None
    health: health_aio.HealthServicer | None = None
    servicer: KeyVaultServicer | None = None

    async def start(self) -> None:
        settings = self.settings
        keyring = load_keyring(
            settings.keys_dir, min_kid=settings.min_kid, passphrase_file=settings.key_passphrase_file
        )
        self._audit = open_sink(settings.audit_sink, fsync=settings.audit_fsync)
        self.health = health_aio.HealthServicer()
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.servicer = KeyVaultServicer(
            keyring=keyring,
            revocations=self.revocations,
            audit=self._audit,
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        )
        authorizer = SpiffeAuthorizer(
            self.policy if self.policy is not None else authorization_policy(settings)
        )
        main = aio.server(interceptors=[authorizer], options=NO_PORT_SHARING)
        keyvault_pb2_grpc.add_KeyVaultServicer_to_server(self.servicer, main)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, main)
        reflection.enable_server_reflection([SERVICE_NAME, HEALTH_SERVICE, REFLECTION_SERVICE], main)
        self.port = _bind(
            main,
            f"{settings.host}:{settings.port}",
            server_credentials(settings.tls_files()),
            "KEYVAULT_PORT",
        )
        self._servers.append(main)
        if settings.health_port:
            # Kubelet's grpc probes carry no client certificate: health only, on its own port.
            probe = aio.server(options=NO_PORT_SHARING)
            health_pb2_grpc.add_HealthServicer_to_server(self.health, probe)
            self.health_port = _bind(
                probe, f"{settings.host}:{settings.health_port}", None, "KEYVAULT_HEALTH_PORT"
            )
            self._servers.append(probe)
        for server in self._servers:
            await server.start()
        logger.info(
            "keyvault listening on %s:%s (mTLS), health on %s; kids %s, newest %s",
            settings.host,
            self.port,
            self.health_port or "-",
            sorted(keyring.keys),
            keyring.newest_kid,
        )
        self._sync = RevocationSync(
            self.revocations,
            servers=settings.nats_servers(),
            retention_days=settings.revocation_retention_days,
            on_ready=lambda: self._set_health(health_pb2.HealthCheckResponse.SERVING),
        )
        self._sync.start()

    def reload_keys(self, *, min_kid: int | None = None) -> None:
        """Re-read the key directory (a new kid from rotation, a mounted Secret that changed).
        A directory that no longer loads keeps the current keys and raises KeyRingError."""
        assert self.servicer is not None
        settings = self.settings
        self.servicer.keyring = load_keyring(
            settings.keys_dir,
            min_kid=settings.min_kid if min_kid is None else min_kid,
            passphrase_file=settings.key_passphrase_file,
        )
        ring = self.servicer.keyring
        logger.info(
            "keys reloaded: kids %s, newest %s, min %s", sorted(ring.keys), ring.newest_kid, ring.min_kid
        )

    async def _set_health(self, status: int) -> None:
        assert self.health is not None
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish within `grace`, then release resources."""
        if self.health is not None:
            await self.health.enter_graceful_shutdown()
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        await asyncio.gather(*(server.stop(grace) for server in self._servers))
        self._servers.clear()
        if self._sync is not None:
            await self._sync.stop()
        if self._audit is not None:
            self._audit.close()
        logger.info("keyvault stopped")


async def main_async(settings: Settings) -> None:
    server = KeyVaultServer(settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload_or_log, server)
    await stop.wait()
    logger.info("shutting down")
    await server.stop()


def _reload_or_log(server: KeyVaultServer) -> None:
    try:
        server.reload_keys()
    except KeyRingError as exc:
        logger.error("key reload failed, keeping the loaded keys: %s", exc)


def run() -> None:
    settings = Settings()  # type: ignore[call-arg]  # required fields come from the environment
    configure_logging("keyvault", settings.log_level)
    asyncio.run(main_async(settings))
