"""The providers the simulator impersonates (every provider of the registry), by wire format."""

from __future__ import annotations

from switchyard_common.providers import provider_ids

OPENAI_COMPATIBLE: tuple[str, ...] = (
    "openai",
    "mistral",
    "groq",
    "deepseek",
    "xai",
    "together",
    "openrouter",
)
# Each speaks one of three wire formats: OpenAI's (above), Anthropic's or Google's.
PROVIDERS: tuple[str, ...] = provider_ids()


def check_provider(provider: str) -> None:
    """Refuse a provider the simulator does not impersonate (a typo in a test's script)."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
