"""The model catalog: every model the router can call, loaded and validated from catalog.json."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from switchyard_common.providers import PROVIDERS

__all__ = [
    "CAPABILITIES",
    "LONG_CONTEXT_MIN_WINDOW",
    "Catalog",
    "CatalogError",
    "CatalogModel",
    "load_catalog",
    "parse_catalog",
]

CAPABILITIES = frozenset({"vision", "tools", "reasoning", "long_context", "coding", "fast"})
# A model tagged long_context must take at least this many tokens of context.
LONG_CONTEXT_MIN_WINDOW = 200_000

_FIELDS = (
    "id",
    "provider",
    "provider_model",
    "display_name",
    "context_window",
    "max_output_tokens",
    "input_price_per_mtok",
    "output_price_per_mtok",
    "capabilities",
)
_TOP_LEVEL = frozenset({"version", "models"})


class CatalogError(Exception):
    """The catalog data is malformed; the message names the model and the field."""


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """One model; `id` is "provider/model", `provider_model` is the provider's own API name."""

    id: str
    provider: str
    provider_model: str
    display_name: str
    context_window: int
    max_output_tokens: int
    input_price_per_mtok: float
    output_price_per_mtok: float
    capabilities: frozenset[str]

    def __post_init__(self) -> None:
        _check_names(self)
        _check_numbers(self)
        _check_capabilities(self)


def _check_names(model: CatalogModel) -> None:
    if model.provider not in PROVIDERS:
        raise CatalogError(f"unknown provider {model.provider!r} (known: {', '.join(sorted(PROVIDERS))})")
    prefix, _, rest = model.id.partition("/")
    if prefix != model.provider or not rest or any(char.isspace() for char in model.id):
        raise CatalogError(f"id {model.id!r} must be '{model.provider}/<model>' without whitespace")
    for name in ("provider_model", "display_name"):
        if not getattr(model, name).strip():
            raise CatalogError(f"{name} must not be empty")


def _check_numbers(model: CatalogModel) -> None:
    for name in ("context_window", "max_output_tokens"):
        if getattr(model, name) <= 0:
            raise CatalogError(f"{name} must be positive, got {getattr(model, name)!r}")
    if model.max_output_tokens > model.context_window:
        raise CatalogError(
            f"max_output_tokens {model.max_output_tokens} exceeds context_window {model.context_window}"
        )
    for name in ("input_price_per_mtok", "output_price_per_mtok"):
        price = getattr(model, name)
        if not math.isfinite(price) or price <= 0:
            raise CatalogError(f"{name} must be a positive finite number, got {price!r}")


def _check_capabilities(model: CatalogModel) -> None:
    unknown = model.capabilities - CAPABILITIES
    if unknown:
        raise CatalogError(
            f"unknown capabilities {sorted(unknown)} (known: {', '.join(sorted(CAPABILITIES))})"
        )
    if "long_context" in model.capabilities and model.context_window < LONG_CONTEXT_MIN_WINDOW:
        raise CatalogError(
            f"long_context needs context_window >= {LONG_CONTEXT_MIN_WINDOW}, got {model.context_window}"
        )


class Catalog:
    """The validated models, in file order, looked up by id or provider."""

    def __init__(self, models: Iterable[CatalogModel], *, version: str) -> None:
        self._models = tuple(models)
        if not version.strip():
            raise CatalogError("version must not be empty")
        if not self._models:
            raise CatalogError("the catalog has no models")
        self._by_id: dict[str, CatalogModel] = {}
        for model in self._models:
            if model.id in self._by_id:
                raise CatalogError(f"duplicate model id {model.id!r}")
            self._by_id[model.id] = model
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    def get(self, model_id: str) -> CatalogModel | None:
        return self._by_id.get(model_id)

    def for_provider(self, provider: str) -> tuple[CatalogModel, ...]:
        return tuple(model for model in self._models if model.provider == provider)

    def all(self) -> tuple[CatalogModel, ...]:
        return self._models

    def __len__(self) -> int:
        return len(self._models)


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate a catalog file; without `path`, the one packaged with the router."""
    if path is None:
        source = "router/catalog.json"
        text = resources.files("router").joinpath("catalog.json").read_text(encoding="utf-8")
    else:
        source = str(path)
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{source}: not valid JSON: {exc}") from exc
    try:
        return parse_catalog(data)
    except CatalogError as exc:
        raise CatalogError(f"{source}: {exc}") from exc


def parse_catalog(data: object) -> Catalog:
    """Build a Catalog from decoded JSON: {"version": str, "models": [ {...}, ... ]}."""
    if not isinstance(data, dict):
        raise CatalogError("the top level must be an object with 'version' and 'models'")
    extra = set(data) - _TOP_LEVEL
    if extra:
        raise CatalogError(f"unknown top-level keys {sorted(extra)}")
    version, models = data.get("version"), data.get("models")
    if not isinstance(version, str):
        raise CatalogError("'version' must be a string")
    if not isinstance(models, list):
        raise CatalogError("'models' must be a list")
    return Catalog((_parse_model(index, entry) for index, entry in enumerate(models)), version=version)


def _parse_model(index: int, entry: object) -> CatalogModel:
    label = f"model #{index}"
    try:
        if not isinstance(entry, dict):
            raise CatalogError("must be an object")
        if isinstance(entry.get("id"), str):
            label = f"model #{index} ({entry['id']})"
        _check_keys(entry)
        return CatalogModel(
            id=_string(entry, "id"),
            provider=_string(entry, "provider"),
            provider_model=_string(entry, "provider_model"),
            display_name=_string(entry, "display_name"),
            context_window=_integer(entry, "context_window"),
            max_output_tokens=_integer(entry, "max_output_tokens"),
            input_price_per_mtok=_number(entry, "input_price_per_mtok"),
            output_price_per_mtok=_number(entry, "output_price_per_mtok"),
            capabilities=_capabilities(entry),
        )
    except CatalogError as exc:
        raise CatalogError(f"{label}: {exc}") from None


def _check_keys(entry: dict[str, Any]) -> None:
    missing = [name for name in _FIELDS if name not in entry]
    if missing:
        raise CatalogError(f"missing fields {missing}")
    extra = set(entry) - set(_FIELDS)
    if extra:
        raise CatalogError(f"unknown fields {sorted(extra)}")


def _string(entry: dict[str, Any], name: str) -> str:
    value = entry[name]
    if not isinstance(value, str):
        raise CatalogError(f"{name} must be a string, got {value!r}")
    return value


def _integer(entry: dict[str, Any], name: str) -> int:
    value = entry[name]
    # bool is an int subclass: `true` is not a context window.
    if isinstance(value, bool) or not isinstance(value, int):
        raise CatalogError(f"{name} must be an integer, got {value!r}")
    return value


def _number(entry: dict[str, Any], name: str) -> float:
    value = entry[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CatalogError(f"{name} must be a number, got {value!r}")
    return float(value)


def _capabilities(entry: dict[str, Any]) -> frozenset[str]:
    value = entry["capabilities"]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CatalogError(f"capabilities must be a list of strings, got {value!r}")
    if len(set(value)) != len(value):
        raise CatalogError(f"capabilities has duplicates: {value!r}")
    return frozenset(value)
