"""The providers the simulator impersonates, by wire format."""

from __future__ import annotations

OPENAI_COMPATIBLE: tuple[str, ...] = (
    "openai",
    "mistral",
    "groq",
    "deepseek",
    "xai",
    "together",
    "openrouter",
)
PROVIDERS: tuple[str, ...] = (*OPENAI_COMPATIBLE, "anthropic", "google")


def check_provider(provider: str) -> None:
    """Refuse a provider the simulator does not impersonate (a typo in a test's script)."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
