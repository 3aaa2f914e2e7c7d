"""What each simulated provider accepts as a key and lists as its models."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from switchyard_dev.provider_sim import _anthropic, _google, _openai
from switchyard_dev.provider_sim._providers import check_provider

_T = TypeVar("_T")


class Accounts:
    """The keys each provider accepts and the models it lists; by default any key and its usual models."""

    def __init__(self, accepts_key: Callable[[str, str], bool] | None = None) -> None:
        """`accepts_key(provider, key)` is a standing rule (the demo's shape check); `set_valid_keys` a
        test's list on top of it."""
        self._accepts_key = accepts_key
        self._valid_keys: dict[str, frozenset[str]] = {}
        self._models: dict[str, tuple[str, ...]] = {}

    def accepts(self, provider: str, key: str) -> bool:
        """Whether `provider` takes `key` (a refused key gets the provider's real auth error)."""
        if self._accepts_key is not None and not self._accepts_key(provider, key):
            return False
        valid = self._valid_keys.get(provider)
        return valid is None or key in valid

    def set_valid_keys(self, provider: str, keys: Iterable[str] | None) -> None:
        check_provider(provider)
        _override(self._valid_keys, provider, None if keys is None else frozenset(keys))

    def set_models(self, provider: str, model_ids: Iterable[str] | None) -> None:
        check_provider(provider)
        _override(self._models, provider, None if model_ids is None else tuple(model_ids))

    def models(self, provider: str) -> tuple[str, ...]:
        check_provider(provider)
        if provider in self._models:
            return self._models[provider]
        if provider == "anthropic":
            return _anthropic.DEFAULT_MODELS
        if provider == "google":
            return _google.DEFAULT_MODELS
        return _openai.DEFAULT_MODELS[provider]

    def clear(self) -> None:
        """Forget the valid-key lists and model lists tests set (the standing rule stays)."""
        self._valid_keys.clear()
        self._models.clear()


def _override(overrides: dict[str, _T], provider: str, value: _T | None) -> None:
    """Set `provider`'s override, or drop it (back to the default) when `value` is None."""
    if value is None:
        overrides.pop(provider, None)
    else:
        overrides[provider] = value
