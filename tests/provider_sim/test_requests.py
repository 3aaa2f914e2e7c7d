"""Request parsing: which operation a method and path ask of each provider, and where the key is read."""

from __future__ import annotations

import pytest

from switchyard_dev.provider_sim._providers import OPENAI_COMPATIBLE, PROVIDERS
from switchyard_dev.provider_sim._requests import Operation, api_key_of, parse_operation

STREAM = {"stream": True}


@pytest.mark.parametrize(
    ("provider", "method", "path", "body", "expected"),
    [
        ("openai", "POST", "/v1/chat/completions", STREAM, Operation("chat", stream=True)),
        ("groq", "POST", "/v1/chat/completions", {}, Operation("chat")),
        ("mistral", "GET", "/v1/models", None, Operation("models")),
        ("xai", "GET", "/v1/models/grok-4", None, Operation("model", model="grok-4")),
        ("openai", "GET", "/v1/chat/completions", None, Operation("unknown")),
        ("openai", "POST", "/v1/messages", {}, Operation("unknown")),
        ("anthropic", "POST", "/v1/messages", STREAM, Operation("messages", stream=True)),
        ("anthropic", "GET", "/v1/models/claude-opus-4-7", None, Operation("model", model="claude-opus-4-7")),
        ("anthropic", "POST", "/v1/chat/completions", {}, Operation("unknown")),
        ("nobody", "POST", "/v1/chat/completions", {}, Operation("unknown")),
    ],
)
def test_rest_providers(provider: str, method: str, path: str, body: object, expected: Operation) -> None:
    assert parse_operation(provider, method, path, body, {}) == expected


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/v1beta/models", {}, Operation("models")),
        ("GET", "/v1/models/gemini-2.5-pro", {}, Operation("model", model="gemini-2.5-pro")),
        (
            "POST",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            {},
            Operation("generate", model="gemini-2.5-flash", sse=False),
        ),
        (
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            {"alt": "sse"},
            Operation("generate", model="gemini-2.5-flash", stream=True, sse=True),
        ),
        (
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            {},
            Operation("generate", model="gemini-2.5-flash", stream=True, sse=False),
        ),
        ("POST", "/v1beta/models/gemini-2.5-flash:countTokens", {}, Operation("unknown")),
        ("GET", "/v2/models", {}, Operation("unknown")),
        ("GET", "/v1beta/models/a/b", {}, Operation("unknown")),
    ],
)
def test_google(method: str, path: str, query: dict[str, str], expected: Operation) -> None:
    assert parse_operation("google", method, path, None, query) == expected


def test_only_generating_and_listing_calls_name_a_fault_endpoint() -> None:
    assert Operation("chat").endpoint == "generate"
    assert Operation("generate").endpoint == "generate"
    assert Operation("model", model="x").endpoint == "models"
    assert Operation("unknown").endpoint is None


def test_key_is_read_where_each_provider_reads_it() -> None:
    bearer = {"authorization": "Bearer sk-1 "}
    assert api_key_of("openai", bearer, {}) == "sk-1"
    assert api_key_of("openai", {"authorization": "Basic sk-1"}, {}) is None
    assert api_key_of("openai", {"x-api-key": "sk-1"}, {}) is None
    assert api_key_of("anthropic", {"x-api-key": "sk-ant", **bearer}, {}) == "sk-ant"
    assert api_key_of("anthropic", bearer, {}) == "sk-1"
    assert api_key_of("google", {"x-goog-api-key": "AIza"}, {"key": "other"}) == "AIza"
    assert api_key_of("google", bearer, {"key": "AIza"}) == "AIza"
    assert api_key_of("nobody", bearer, {}) is None


def test_every_provider_of_the_registry_has_a_wire_format() -> None:
    assert set(PROVIDERS) == {*OPENAI_COMPATIBLE, "anthropic", "google"}
    assert len(PROVIDERS) == len(OPENAI_COMPATIBLE) + 2
