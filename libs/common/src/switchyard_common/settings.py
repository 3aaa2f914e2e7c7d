"""Settings pieces every gRPC service shares; each service composes them with its own prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from switchyard_common.mtls import TLSFiles

__all__ = ["MTLSSettings", "NatsSettings", "DEFAULT_NATS_URL"]

DEFAULT_NATS_URL = "nats://127.0.0.1:14222"


class MTLSSettings(BaseSettings):
    """This service's certificate, key and the platform CA (files; in Kubernetes, Secret mounts)."""

    tls_ca_file: Path
    tls_cert_file: Path
    tls_key_file: Path

    def tls_files(self) -> TLSFiles:
        return TLSFiles(ca=self.tls_ca_file, cert=self.tls_cert_file, key=self.tls_key_file)


class NatsSettings(BaseSettings):
    nats_url: str = Field(default=DEFAULT_NATS_URL, description="comma-separated NATS servers")

    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]
