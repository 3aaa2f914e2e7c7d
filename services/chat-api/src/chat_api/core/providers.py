"""The providers chat-api accepts keys and policies for (the router's catalog covers the same set)."""

from __future__ import annotations

__all__ = ["PROVIDERS", "PROVIDER_NAMES"]

PROVIDER_NAMES: dict[str, str] = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Google",
    "mistral": "Mistral",
    "groq": "Groq",
    "deepseek": "DeepSeek",
    "xai": "xAI",
    "together": "Together",
    "openrouter": "OpenRouter",
}
PROVIDERS: tuple[str, ...] = tuple(PROVIDER_NAMES)
