"""Start real keyvault servers in-process (real mTLS, real NATS) and dial them as any identity."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from grpc import aio

from keyvault.config import Settings
from keyvault.server import KeyVaultServer

if TYPE_CHECKING:
    from switchyard.keyvault.v1.keyvault_pb2_grpc import KeyVaultAsyncStub
from switchyard.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from switchyard_common.mtls import TLSFiles, channel_credentials
from switchyard_dev import pki


@dataclass
class TestPki:
    """The platform CA with one identity per service, plus deliberately wrong certificates."""

    directory: Path
    ca: pki.Authority
    files: dict[str, TLSFiles] = field(default_factory=dict)

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.pem"

    def add(self, name: str, issued: pki.Issued, ca_path: Path | None = None) -> TLSFiles:
        pki.write_issued(self.directory, name, issued)
        files = TLSFiles(
            ca=ca_path or self.ca_path,
            cert=self.directory / f"{name}.pem",
            key=self.directory / f"{name}-key.pem",
        )
        self.files[name] = files
        return files


def make_pki(directory: Path) -> TestPki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = pki.new_authority()
    (directory / "ca.pem").write_bytes(ca.pem)
    result = TestPki(directory=directory, ca=ca)
    for name in pki.SERVICES:
        result.add(name, pki.issue(ca, name, spiffe_ids=(pki.spiffe_id(name),)))
    # CN claims the router, SAN does not: must be treated as whatever its SAN says (nothing).
    result.add("cn-router-no-san", pki.issue(ca, "router"))
    result.add("cn-router-other-san", pki.issue(ca, "router", spiffe_ids=(pki.spiffe_id("chat-api"),)))
    expired_start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    result.add(
        "expired-router",
        pki.issue(
            ca, "router", spiffe_ids=(pki.spiffe_id("router"),), valid_days=1, not_before=expired_start
        ),
    )
    rogue = pki.new_authority("Rogue CA")
    rogue_ca = directory / "rogue-ca.pem"
    rogue_ca.write_bytes(rogue.pem)
    # Signed by a CA the server does not trust; it trusts our CA so only the server side fails.
    result.add("rogue-router", pki.issue(rogue, "router", spiffe_ids=(pki.spiffe_id("router"),)))
    return result


def keyvault_settings(
    *, pki_: TestPki, keys_dir: Path, nats_url: str, audit_path: Path, **overrides: object
) -> Settings:
    files = pki_.files["keyvault"]
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "health_port": 0,
        "keys_dir": keys_dir,
        "tls_ca_file": files.ca,
        "tls_cert_file": files.cert,
        "tls_key_file": files.key,
        "nats_url": nats_url,
        "audit_sink": str(audit_path),
        "shutdown_grace_seconds": 1,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def dial(port: int, files: TLSFiles) -> aio.Channel:
    return aio.secure_channel(f"localhost:{port}", channel_credentials(files))


def stub(channel: aio.Channel) -> KeyVaultAsyncStub:
    return keyvault_pb2_grpc.KeyVaultStub(channel)


async def started(settings: Settings, *, wait_ready: bool = True) -> KeyVaultServer:
    server = KeyVaultServer(settings)
    await server.start()
    if wait_ready:
        await server.revocations.wait_ready()
    return server


__all__ = ["TestPki", "dial", "keyvault_pb2", "keyvault_settings", "make_pki", "started", "stub"]
