"""router's settings, from ROUTER_* environment variables."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from switchyard_common.providers import PROVIDERS
from switchyard_common.settings import MTLSSettings, NatsSettings

__all__ = ["ProviderConfig", "Settings"]


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    display_name: str
    base_url: str
    platform_key: SecretStr | None
    # `make dev`'s demo provider serves this provider (base URL and platform key), not the real one.
    demo: bool = False


class Settings(MTLSSettings, NatsSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=17320, ge=0, le=65535, description="mTLS gRPC port")
    health_port: int = Field(default=17321, ge=0, le=65535, description="plaintext health port; 0 = off")
    keyvault_address: str = "localhost:17310"
    chat_api_identity: str = "spiffe://switchyard/chat-api"
    key_cache_ttl_seconds: float = Field(default=60, ge=0, description="0 disables caching")
    key_cache_max_entries: int = Field(default=10_000, gt=0)
    keyvault_timeout_seconds: float = Field(default=2.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    first_byte_timeout_seconds: float = Field(default=60.0, gt=0)
    stream_idle_timeout_seconds: float = Field(default=30.0, gt=0)
    max_connections_per_provider: int = Field(default=200, gt=0)
    revocation_retention_days: float = Field(default=400, gt=0)
    shutdown_grace_seconds: float = Field(default=30, ge=0)
    # A received gRPC message over this is refused (RESOURCE_EXHAUSTED) before it is parsed; it
    # must stay above chat-api's largest chat (CHAT_API_MAX_REQUEST_BODY_BYTES, 1 MiB by default).
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    log_level: str = "INFO"
    # Comma-separated providers whose base URL is `make dev`'s demo provider; only the dev
    # supervisor sets it, so every route and model says when an answer is not the real provider's.
    demo_providers: str = ""

    openai_base_url: str = PROVIDERS["openai"].base_url
    openai_platform_key: SecretStr | None = None
    anthropic_base_url: str = PROVIDERS["anthropic"].base_url
    anthropic_platform_key: SecretStr | None = None
    google_base_url: str = PROVIDERS["google"].base_url
    google_platform_key: SecretStr | None = None
    mistral_base_url: str = PROVIDERS["mistral"].base_url
    mistral_platform_key: SecretStr | None = None
    groq_base_url: str = PROVIDERS["groq"].base_url
    groq_platform_key: SecretStr | None = None
    deepseek_base_url: str = PROVIDERS["deepseek"].base_url
    deepseek_platform_key: SecretStr | None = None
    xai_base_url: str = PROVIDERS["xai"].base_url
    xai_platform_key: SecretStr | None = None
    together_base_url: str = PROVIDERS["together"].base_url
    together_platform_key: SecretStr | None = None
    openrouter_base_url: str = PROVIDERS["openrouter"].base_url
    openrouter_platform_key: SecretStr | None = None

    @field_validator("demo_providers")
    @classmethod
    def _known_demo_providers(cls, value: str) -> str:
        unknown = sorted(set(_names(value)) - set(PROVIDERS))
        if unknown:
            raise ValueError(f"unknown providers {unknown} (known: {', '.join(PROVIDERS)})")
        return value

    def provider(self, name: str) -> ProviderConfig:
        base_url = str(getattr(self, f"{name}_base_url")).rstrip("/")
        key = getattr(self, f"{name}_platform_key")
        if key is not None and not key.get_secret_value():
            key = None
        return ProviderConfig(
            name=name,
            display_name=PROVIDERS[name].display_name,
            base_url=base_url,
            platform_key=key,
            demo=name in _names(self.demo_providers),
        )

    def providers(self) -> list[ProviderConfig]:
        return [self.provider(name) for name in PROVIDERS]


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]
