"""keyvault's settings, from KEYVAULT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from switchyard_common.settings import MTLSSettings, NatsSettings

__all__ = ["Settings"]


class Settings(MTLSSettings, NatsSettings):
    model_config = SettingsConfigDict(env_prefix="KEYVAULT_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=17310, ge=0, le=65535, description="mTLS gRPC port")
    health_port: int = Field(
        default=17311, ge=0, le=65535, description="plaintext gRPC health port for probes; 0 = off"
    )
    keys_dir: Path = Field(description="directory of kid-<n>.pem private keys")
    key_passphrase_file: Path | None = None
    min_kid: int = Field(default=1, ge=1, description="envelopes under an older kid are refused")
    audit_sink: str = Field(default="stdout", description="'stdout' or a JSON-lines file path")
    audit_fsync: bool = False
    revocation_retention_days: float = Field(default=400, gt=0)
    rate_limit_per_second: float = Field(default=500, gt=0)
    rate_limit_burst: int = Field(default=1000, gt=0)
    router_identity: str = "spiffe://switchyard/router"
    rotation_identity: str = "spiffe://switchyard/key-rotation"
    shutdown_grace_seconds: float = Field(default=10, ge=0)
    log_level: str = "INFO"
