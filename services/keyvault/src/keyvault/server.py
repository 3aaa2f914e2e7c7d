"""Composition root: build keyvault from Settings and serve it until told to stop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from keyvault.audit import AuditSink, open_sink
from keyvault.config import Settings
from keyvault.keyring import KeyRingError, load_keyring
from keyvault.ratelimit import RateLimiter
from keyvault.revocations import RevocationList, RevocationSync
from keyvault.servicer import MAX_MESSAGE_BYTES, KeyVaultServicer
from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard_common.authz import ANY_AUTHENTICATED, Allow
from switchyard_common.entrypoint import wait_for_shutdown_signal
from switchyard_common.grpc_server import Endpoints, health_and_reflection_policy, start_endpoints
from switchyard_common.logs import configure_logging

__all__ = ["KeyVaultServer", "authorization_policy", "main_async"]

logger = logging.getLogger(__name__)

SERVICE_NAME = keyvault_pb2.DESCRIPTOR.services_by_name["KeyVault"].full_name


def authorization_policy(settings: Settings) -> dict[str, Allow]:
    """Who may call what. A method missing here is denied to everyone."""
    method = f"/{SERVICE_NAME}/"
    return {
        method + "GetPublicKey": ANY_AUTHENTICATED,
        method + "Decrypt": Allow(identities=frozenset({settings.router_identity})),
        method + "Rewrap": Allow(identities=frozenset({settings.rotation_identity})),
        **health_and_reflection_policy(),
    }


@dataclass
class KeyVaultServer:
    settings: Settings
    policy: dict[str, Allow] | None = None
    revocations: RevocationList = field(default_factory=RevocationList)
    endpoints: Endpoints | None = None
    servicer: KeyVaultServicer | None = None
    _sync: RevocationSync | None = None
    _audit: AuditSink | None = None

    @property
    def port(self) -> int:
        return self.endpoints.port if self.endpoints else 0

    @property
    def health_port(self) -> int:
        return self.endpoints.health_port if self.endpoints else 0

    async def start(self) -> None:
        settings = self.settings
        keyring = load_keyring(
            settings.keys_dir, min_kid=settings.min_kid, passphrase_file=settings.key_passphrase_file
        )
        self._audit = open_sink(settings.audit_sink, fsync=settings.audit_fsync)
        servicer = self.servicer = KeyVaultServicer(
            keyring=keyring,
            revocations=self.revocations,
            audit=self._audit,
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        )
        endpoints = self.endpoints = await start_endpoints(
            service_name=SERVICE_NAME,
            register=lambda server: keyvault_pb2_grpc.add_KeyVaultServicer_to_server(servicer, server),
            policy=self.policy if self.policy is not None else authorization_policy(settings),
            host=settings.host,
            port=settings.port,
            health_port=settings.health_port,
            tls_files=settings.tls_files(),
            env_prefix="KEYVAULT_",
            max_message_bytes=MAX_MESSAGE_BYTES,
        )
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
            on_ready=lambda: endpoints.set_serving(True),
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

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish within `grace`, then release resources.
        Safe to call twice: each resource is released once."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        endpoints, sync, audit = self.endpoints, self._sync, self._audit
        self._sync = self._audit = None
        if endpoints is not None:
            await endpoints.stop(grace)
        if sync is not None:
            await sync.stop()
        if audit is not None:
            audit.close()
        logger.info("keyvault stopped")


async def main_async(settings: Settings) -> None:
    server = KeyVaultServer(settings)
    await server.start()
    await wait_for_shutdown_signal(on_reload=lambda: _reload_or_log(server))
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
