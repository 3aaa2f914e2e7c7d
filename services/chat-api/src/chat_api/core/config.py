"""chat-api's settings, from CHAT_API_* environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from switchyard_common.settings import MTLSSettings, NatsSettings

__all__ = ["Settings"]


class Settings(MTLSSettings, NatsSettings):
    """The mTLS files are chat-api's client identity towards router and keyvault."""

    model_config = SettingsConfigDict(env_prefix="CHAT_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # A SecretStr because a PostgreSQL URL carries its password.
    database_url: SecretStr = SecretStr("sqlite+pysqlite:///./.dev/chat-api.db")
    migrate_on_start: bool = Field(default=True, description="dev; Kubernetes runs migrations as a job")
    router_address: str = "localhost:17320"
    keyvault_address: str = "localhost:17310"
    access_token_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    log_level: str = "INFO"
