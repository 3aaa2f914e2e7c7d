"""chat-api's settings, from CHAT_API_* environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from switchyard_common.settings import MTLSSettings, NatsSettings

__all__ = ["Settings"]


class Settings(MTLSSettings, NatsSettings):
    """The mTLS files are chat-api's client identity towards the router."""

    # hide_input_in_errors: a refused database URL may carry a password.
    model_config = SettingsConfigDict(env_prefix="CHAT_API_", extra="ignore", hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # A SecretStr because a PostgreSQL URL carries its password. No default: `make dev` points it at
    # its embedded server, production at its own (a secret).
    database_url: SecretStr = Field(description="postgresql+psycopg://user:password@host:port/database")
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=40, ge=0)
    # A request needing a new connection to an unreachable database fails (503) after this long.
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # A request waiting this long for a free pooled connection (every one busy) fails with a 503.
    database_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    migrate_on_start: bool = Field(default=True, description="dev; Kubernetes runs migrations as a job")
    router_address: str = "localhost:17320"
    # Deadline of one router call (a whole streamed answer) and of key verification.
    router_timeout_seconds: float = Field(default=300.0, gt=0)
    verify_timeout_seconds: float = Field(default=20.0, gt=0)
    # How long a fetched keyvault public key is used before it is fetched again (rotation).
    public_key_refresh_seconds: float = Field(default=60.0, gt=0)
    auth_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "how long the chat path trusts an authenticated token without asking the database (0 turns"
            " the cache off); logout and revocation purge it on the replica that handles them at once,"
            " other replicas may accept a revoked token for up to this long"
        ),
    )
    # Completions of /v1/chat/completions are written in batches this often (or every N rows).
    usage_flush_seconds: float = Field(default=0.2, gt=0)
    usage_flush_rows: int = Field(default=500, ge=1)
    access_token_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    api_token_max_ttl_days: int = Field(default=365, gt=0)
    # Platform-access tokens (input + output) a user may spend per calendar month (UTC).
    platform_monthly_token_quota: int = Field(default=2_000_000, ge=0)
    # The outbox relay retries an unpublished event after this delay, doubling up to the maximum.
    outbox_retry_seconds: float = Field(default=0.2, gt=0)
    outbox_retry_max_seconds: float = Field(default=5.0, gt=0)
    # How long a DELETE waits for requests that read the key to start their provider call before
    # answering 503 (the key stays unusable; a retry completes the removal).
    revocation_wait_seconds: float = Field(default=30.0, gt=0)
    revocation_retention_days: float = Field(default=400.0, gt=0)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated origins allowed by CORS"
    )
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # Limits (chat_api.limits). A body over the size is refused before it is parsed (413).
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # One chat request: how many messages (a conversation's whole history included) and how many
    # characters of text and bytes of inline images in all of them together (422 chat-too-large).
    max_chat_messages: int = Field(default=500, ge=1)
    max_chat_content_chars: int = Field(default=500_000, ge=1)
    # Per-user token buckets on each replica (0 a minute turns a limit off): 429 rate-limited.
    chat_rate_per_minute: float = Field(default=300.0, ge=0)
    chat_rate_burst: int = Field(default=60, ge=1)
    key_check_rate_per_minute: float = Field(default=30.0, ge=0)
    key_check_rate_burst: int = Field(default=10, ge=1)
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _postgresql_only(cls, value: SecretStr) -> SecretStr:
        # The message never quotes the URL: it may carry a password.
        if not value.get_secret_value().startswith(("postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                "must be a PostgreSQL URL (postgresql+psycopg://…): chat-api runs on PostgreSQL only"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value
