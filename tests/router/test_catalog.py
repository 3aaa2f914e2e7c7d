"""The packaged catalog: size, coverage, every field valid; strict validation of bad catalog data."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from router.catalog import (
    CAPABILITIES,
    LONG_CONTEXT_MIN_WINDOW,
    Catalog,
    CatalogError,
    CatalogModel,
    load_catalog,
    parse_catalog,
)
from switchyard_common.providers import PROVIDERS

MIN_MODELS = 60
MIN_PER_PROVIDER = 3
# DeepSeek's own API serves exactly two models (deepseek-v4-flash, deepseek-v4-pro) since the
# deepseek-chat / deepseek-reasoner aliases were retired on 2026-07-24; listing more would mean
# inventing model names.
FEWER_BY_DESIGN = {"deepseek": 2}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def model_dict(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "openai/gpt-4o-mini",
        "provider": "openai",
        "provider_model": "gpt-4o-mini",
        "display_name": "GPT-4o mini",
        "context_window": 128_000,
        "max_output_tokens": 16_384,
        "input_price_per_mtok": 0.15,
        "output_price_per_mtok": 0.6,
        "capabilities": ["vision", "tools", "fast"],
    }
    entry.update(overrides)
    return entry


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_packaged_catalog_loads_with_a_version(catalog: Catalog) -> None:
    assert catalog.version.strip()
    assert len(catalog) == len(catalog.all()) >= MIN_MODELS


def test_every_provider_has_models(catalog: Catalog) -> None:
    counts = Counter(model.provider for model in catalog.all())
    assert set(counts) == set(PROVIDERS)
    for provider in PROVIDERS:
        assert counts[provider] >= FEWER_BY_DESIGN.get(provider, MIN_PER_PROVIDER), provider


def test_every_field_is_valid(catalog: Catalog) -> None:
    ids = [model.id for model in catalog.all()]
    assert len(ids) == len(set(ids))
    for model in catalog.all():
        prefix, _, rest = model.id.partition("/")
        assert model.provider in PROVIDERS
        assert prefix == model.provider
        assert rest
        assert model.provider_model.strip() == model.provider_model != ""
        assert model.display_name.strip()
        assert isinstance(model.context_window, int)
        assert isinstance(model.max_output_tokens, int)
        assert 0 < model.max_output_tokens <= model.context_window
        for price in (model.input_price_per_mtok, model.output_price_per_mtok):
            assert isinstance(price, float)
            assert math.isfinite(price)
            assert price > 0
        assert isinstance(model.capabilities, frozenset)
        assert model.capabilities <= CAPABILITIES
        if "long_context" in model.capabilities:
            assert model.context_window >= LONG_CONTEXT_MIN_WINDOW


def test_provider_model_names_are_unique_per_provider(catalog: Catalog) -> None:
    pairs = [(model.provider, model.provider_model) for model in catalog.all()]
    assert len(pairs) == len(set(pairs))


def test_every_provider_offers_a_fast_model(catalog: Catalog) -> None:
    for provider in PROVIDERS:
        assert any("fast" in model.capabilities for model in catalog.for_provider(provider)), provider


def test_get_for_provider_and_all(catalog: Catalog) -> None:
    model = catalog.get("anthropic/claude-haiku-4-5")
    assert model is not None
    assert model.provider_model == "claude-haiku-4-5-20251001"
    assert catalog.get("openai/no-such-model") is None
    assert catalog.for_provider("nobody") == ()
    groq = catalog.for_provider("groq")
    assert groq
    assert all(m.provider == "groq" for m in groq)
    assert sum(len(catalog.for_provider(p)) for p in PROVIDERS) == len(catalog.all())


def test_all_keeps_file_order(tmp_path: Path) -> None:
    second = model_dict(id="openai/gpt-4o", provider_model="gpt-4o")
    catalog = load_catalog(write(tmp_path, {"version": "t", "models": [second, model_dict()]}))
    assert [m.id for m in catalog.all()] == ["openai/gpt-4o", "openai/gpt-4o-mini"]


def test_load_from_explicit_path(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, {"version": "test-1", "models": [model_dict()]}))
    assert catalog.version == "test-1"
    model = catalog.get("openai/gpt-4o-mini")
    assert model == CatalogModel(
        id="openai/gpt-4o-mini",
        provider="openai",
        provider_model="gpt-4o-mini",
        display_name="GPT-4o mini",
        context_window=128_000,
        max_output_tokens=16_384,
        input_price_per_mtok=0.15,
        output_price_per_mtok=0.6,
        capabilities=frozenset({"vision", "tools", "fast"}),
    )


def test_integer_prices_become_floats() -> None:
    model = parse_catalog({"version": "t", "models": [model_dict(input_price_per_mtok=2)]}).all()[0]
    assert model.input_price_per_mtok == 2.0
    assert isinstance(model.input_price_per_mtok, float)


def test_catalog_model_is_immutable(catalog: Catalog) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalog.all()[0].context_window = 1  # type: ignore[misc]


def test_catalog_model_validates_when_built_directly() -> None:
    with pytest.raises(CatalogError, match="unknown provider 'cohere'"):
        CatalogModel(
            id="cohere/command",
            provider="cohere",
            provider_model="command",
            display_name="Command",
            context_window=128_000,
            max_output_tokens=4_000,
            input_price_per_mtok=1.0,
            output_price_per_mtok=2.0,
            capabilities=frozenset(),
        )


BAD_MODELS: list[tuple[str, object, str]] = [
    ("unknown-provider", model_dict(id="cohere/command", provider="cohere"), r"unknown provider 'cohere'"),
    ("id-prefix-mismatch", model_dict(id="anthropic/gpt-4o-mini"), r"must be 'openai/<model>'"),
    ("id-without-model", model_dict(id="openai/"), r"must be 'openai/<model>'"),
    ("id-without-slash", model_dict(id="gpt-4o-mini"), r"must be 'openai/<model>'"),
    ("id-with-space", model_dict(id="openai/gpt 4o"), r"without whitespace"),
    (
        "unknown-capability",
        model_dict(capabilities=["vision", "telepathy"]),
        r"unknown capabilities \['telepathy'\]",
    ),
    ("duplicate-capability", model_dict(capabilities=["fast", "fast"]), r"capabilities has duplicates"),
    ("capabilities-not-list", model_dict(capabilities="fast"), r"capabilities must be a list of strings"),
    ("zero-price", model_dict(input_price_per_mtok=0), r"input_price_per_mtok must be a positive"),
    ("negative-price", model_dict(output_price_per_mtok=-1.5), r"output_price_per_mtok must be a positive"),
    ("string-price", model_dict(output_price_per_mtok="0.6"), r"output_price_per_mtok must be a number"),
    ("bool-price", model_dict(input_price_per_mtok=True), r"input_price_per_mtok must be a number"),
    ("zero-window", model_dict(context_window=0), r"context_window must be positive"),
    ("negative-output", model_dict(max_output_tokens=-5), r"max_output_tokens must be positive"),
    ("float-window", model_dict(context_window=128_000.5), r"context_window must be an integer"),
    ("bool-window", model_dict(context_window=True), r"context_window must be an integer"),
    ("output-above-window", model_dict(max_output_tokens=200_000), r"exceeds context_window 128000"),
    (
        "long-context-small-window",
        model_dict(capabilities=["long_context"]),
        rf"long_context needs context_window >= {LONG_CONTEXT_MIN_WINDOW}",
    ),
    ("empty-display-name", model_dict(display_name="  "), r"display_name must not be empty"),
    ("empty-provider-model", model_dict(provider_model=""), r"provider_model must not be empty"),
    ("non-string-name", model_dict(display_name=42), r"display_name must be a string"),
    ("unknown-field", model_dict(price=1), r"unknown fields \['price'\]"),
    ("not-an-object", ["openai/gpt-4o-mini"], r"must be an object"),
]


def without(field: str) -> dict[str, Any]:
    entry = model_dict()
    del entry[field]
    return entry


@pytest.mark.parametrize(
    ("entry", "message"),
    [pytest.param(entry, message, id=name) for name, entry, message in BAD_MODELS]
    + [pytest.param(without("context_window"), r"missing fields \['context_window'\]", id="missing-field")],
)
def test_bad_model_is_refused_with_a_clear_error(tmp_path: Path, entry: object, message: str) -> None:
    path = write(
        tmp_path, {"version": "t", "models": [model_dict(id="openai/gpt-4o", provider_model="x"), entry]}
    )
    with pytest.raises(CatalogError, match=message) as caught:
        load_catalog(path)
    assert str(path) in str(caught.value)
    assert "model #1" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            {"version": "t", "models": [model_dict(), model_dict()]}, "duplicate model id", id="dup-id"
        ),
        pytest.param({"models": [model_dict()]}, "'version' must be a string", id="no-version"),
        pytest.param(
            {"version": " ", "models": [model_dict()]}, "version must not be empty", id="blank-version"
        ),
        pytest.param({"version": "t", "models": []}, "has no models", id="no-models"),
        pytest.param({"version": "t", "models": {}}, "'models' must be a list", id="models-not-list"),
        pytest.param({"version": "t", "models": [], "extra": 1}, r"unknown top-level keys", id="extra-key"),
        pytest.param([model_dict()], "top level must be an object", id="top-level-list"),
    ],
)
def test_bad_catalog_is_refused(tmp_path: Path, data: object, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(write(tmp_path, data))


def test_invalid_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text('{"version": "t", "models": [', encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(path)


def test_error_names_the_model(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"model #0 \(openai/gpt-4o-mini\): context_window"):
        load_catalog(write(tmp_path, {"version": "t", "models": [model_dict(context_window=-1)]}))


def test_packaged_file_round_trips_through_parse_catalog(catalog: Catalog) -> None:
    text = Path(__file__).resolve().parents[2] / "services/router/src/router/catalog.json"
    data = json.loads(text.read_text(encoding="utf-8"))
    parsed = parse_catalog(data)
    assert parsed.all() == catalog.all()
    assert parsed.version == data["version"] == catalog.version
