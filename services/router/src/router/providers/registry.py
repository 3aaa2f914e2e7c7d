"""Builds one adapter, over one long-lived client, for every provider in Settings."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from router.config import Settings
from router.providers.anthropic import AnthropicAdapter
from router.providers.base import ProviderAdapter
from router.providers.google import GoogleAdapter
from router.providers.http.client import make_client
from router.providers.openai_compat import OpenAICompatAdapter

__all__ = ["aclose_all", "build_adapters"]


def build_adapters(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, ProviderAdapter]:
    """Provider name → adapter; `transport` (tests) replaces the network for every client."""
    adapters: dict[str, ProviderAdapter] = {}
    for config in settings.providers():
        client = make_client(
            config.base_url,
            connect_timeout=settings.connect_timeout_seconds,
            first_byte_timeout=settings.first_byte_timeout_seconds,
            max_connections=settings.max_connections_per_provider,
            transport=transport,
        )
        adapters[config.name] = _adapter(config.name, client, settings.stream_idle_timeout_seconds)
    return adapters


def _adapter(name: str, client: httpx.AsyncClient, idle: float) -> ProviderAdapter:
    if name == "anthropic":
        return AnthropicAdapter(client, stream_idle_timeout=idle)
    if name == "google":
        return GoogleAdapter(client, stream_idle_timeout=idle)
    return OpenAICompatAdapter(name, client, stream_idle_timeout=idle)


async def aclose_all(adapters: Mapping[str, ProviderAdapter]) -> None:
    """Close every client; one failing to close does not keep the others open."""
    await asyncio.gather(*(adapter.aclose() for adapter in adapters.values()), return_exceptions=True)
