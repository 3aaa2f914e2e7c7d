"""Each provider adapter against its real wire format, over httpx.MockTransport (no network).

Every response body fed to an adapter is first validated with the official SDK's own types
(openai, anthropic, google-genai), so the fixtures are shapes the providers really send; the
requests the adapters build are checked against the SDKs' request types where they have them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, cast

import anthropic
import httpx
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)
from anthropic.types.shared import ErrorResponse
from google.genai import errors as genai_errors
from google.genai import types as genai
from openai.types import ErrorObject
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)
from pydantic import TypeAdapter

from router.config import Settings
from router.providers import anthropic as anthropic_adapter
from router.providers.anthropic import AnthropicAdapter
from router.providers.base import (
    BadRequest,
    ChatMessage,
    Completion,
    CredentialRejected,
    FinishReason,
    GenerationParams,
    ImageInput,
    ProviderAdapter,
    ProviderCall,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StreamEnd,
    TextDelta,
    Usage,
)
from router.providers.google import GoogleAdapter
from router.providers.http.client import make_client
from router.providers.http.errors import retry_after
from router.providers.openai_compat import OpenAICompatAdapter
from router.providers.registry import aclose_all, build_adapters
from switchyard_common.providers import PROVIDERS

JSON = dict[str, Any]
KEY = "sk-live-7fQ2mZ9xR4tL1vB8nK3wP6yH0cJ5dG"
IDLE = 0.2
PNG = b"\x89PNG\r\n\x1a\n-not-really-an-image"
PNG_B64 = "iVBORw0KGgotbm90LXJlYWxseS1hbi1pbWFnZQ=="
COMPAT = ["openai", "mistral", "groq", "deepseek", "xai", "together", "openrouter"]
FORMATS = ["openai", "anthropic", "google"]  # one provider per wire format

CALL = ProviderCall(
    provider_model="model-x",
    messages=(
        ChatMessage("system", ("Be brief.",)),
        ChatMessage("user", ("What is in this picture?", ImageInput(media_type="image/png", data=PNG))),
        ChatMessage("assistant", ("A logo.",)),
        ChatMessage("user", ("And this one?", ImageInput(url="https://example.com/cat.png"))),
    ),
    params=GenerationParams(temperature=0.3, top_p=0.9, max_output_tokens=256, stop=("END",), seed=7),
)
TEXT_CALL = ProviderCall(provider_model="model-x", messages=(ChatMessage("user", ("Hi",)),))


# ---- the stand-in upstream ------------------------------------------------------------------

Reply = httpx.Response | Exception | Callable[[httpx.Request], Awaitable[httpx.Response]]


class Upstream:
    """Answers every provider's requests from a script and records what it was sent."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[httpx.Request] = []

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> JSON:
        body: JSON = json.loads(self.last.content)
        return body

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.script.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return await reply(request)


class ScriptedStream(httpx.AsyncByteStream):
    """A response body that sends `chunks`, then stalls or breaks the connection."""

    def __init__(self, chunks: list[bytes], *, then: str, delay: float = 0) -> None:
        self.chunks, self.then, self.delay, self.closed = chunks, then, delay, False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        await asyncio.sleep(self.delay)  # headers are out; the first event is not
        for chunk in self.chunks:
            yield chunk
        if self.then == "stall":
            await asyncio.sleep(30)
        elif self.then == "break":
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    async def aclose(self) -> None:
        self.closed = True


def settings(**overrides: Any) -> Settings:
    return Settings(
        tls_ca_file=Path("ca.pem"),
        tls_cert_file=Path("cert.pem"),
        tls_key_file=Path("key.pem"),
        stream_idle_timeout_seconds=IDLE,
        **overrides,
    )


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
async def adapters(upstream: Upstream) -> AsyncIterator[dict[str, ProviderAdapter]]:
    built = build_adapters(settings(), transport=httpx.MockTransport(upstream))
    yield built
    await aclose_all(built)


def sse_response(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": "text/event-stream; charset=utf-8"}, content=body)


def sse(*events: JSON | str, names: bool = False) -> bytes:
    """SSE wire text; with `names`, each event gets `event: <its type>` as Anthropic sends."""
    out = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        if names and not isinstance(event, str):
            out.append(f"event: {event['type']}\n")
        out.append(f"data: {data}\n\n")
    return "".join(out).encode()


async def collect(adapter: ProviderAdapter, call: ProviderCall = CALL) -> list[TextDelta | StreamEnd]:
    return [item async for item in adapter.stream(call, KEY)]


async def drain(adapter: ProviderAdapter, received: list[TextDelta | StreamEnd]) -> None:
    """Stream CALL into `received`, so a test sees what arrived before a failure."""
    async for item in adapter.stream(CALL, KEY):
        received.append(item)


def validated(adapter: TypeAdapter[Any], value: Any) -> Any:
    """Validate, forcing the lazy iterators pydantic makes for `Iterable[...]` fields."""

    def force(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: force(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple | Iterator):
            return [force(inner) for inner in item]
        return item

    return force(adapter.validate_python(value))


# ---- fixtures in each provider's documented shape, validated with its SDK --------------------


def openai_completion(finish: str = "stop", content: str | None = "Hello! How can I help?") -> JSON:
    body: JSON = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4.1-2025-04-14",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 10,
            "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_50cad350e4",
    }
    ChatCompletion.model_validate(body)
    return body


def openai_chunk(delta: JSON | None, finish: str | None = None, usage: JSON | None = None) -> JSON:
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    chunk: JSON = {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": choices,
        "usage": usage,
    }
    ChatCompletionChunk.model_validate(chunk)
    return chunk


OPENAI_CHUNKS = [
    openai_chunk({"role": "assistant", "content": "", "refusal": None}),
    openai_chunk({"content": "Hello"}),
    openai_chunk({"content": " there"}),
    openai_chunk({}, finish="length"),
    openai_chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}),
]
OPENAI_STREAM = sse(*OPENAI_CHUNKS, "[DONE]")


def anthropic_message(stop_reason: str = "end_turn") -> JSON:
    body: JSON = {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Hi! "}, {"type": "text", "text": "I'm Claude."}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 2095,
            "output_tokens": 503,
            "cache_creation_input_tokens": 5,
            "cache_read_input_tokens": 100,
        },
    }
    Message.model_validate(body)
    return body


def anthropic_events(*events: JSON) -> bytes:
    stream_event: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    for event in events:
        if event["type"] == "error":
            ErrorResponse.model_validate(event)
        elif event["type"] != "ping":  # ping has no SDK type: the SDK skips it by name
            stream_event.validate_python(event)
    return sse(*events, names=True)


ANTHROPIC_START: JSON = {
    "type": "message_start",
    "message": {
        "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-opus-4-6",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 1},
    },
}
ANTHROPIC_BLOCK_START: JSON = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "text", "text": ""},
}
ANTHROPIC_PING: JSON = {"type": "ping"}


def anthropic_text(text: str) -> JSON:
    return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}


ANTHROPIC_BLOCK_STOP: JSON = {"type": "content_block_stop", "index": 0}
ANTHROPIC_DELTA: JSON = {
    "type": "message_delta",
    "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
    "usage": {"output_tokens": 15},
}
ANTHROPIC_STOP: JSON = {"type": "message_stop"}
ANTHROPIC_STREAM = anthropic_events(
    ANTHROPIC_START,
    ANTHROPIC_BLOCK_START,
    ANTHROPIC_PING,
    anthropic_text("Hello"),
    anthropic_text("!"),
    ANTHROPIC_BLOCK_STOP,
    ANTHROPIC_DELTA,
    ANTHROPIC_STOP,
)


def gemini_response(
    text: str | None = "Hello", finish: str | None = "STOP", usage: JSON | None = None, **extra: Any
) -> JSON:
    body: JSON = {"modelVersion": "gemini-2.5-flash", "responseId": "mfUsaOP5Gs2Sz7IP0vzwwQ8", **extra}
    if text is not None:
        candidate: JSON = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        body["candidates"] = [candidate]
    if usage is not None:
        body["usageMetadata"] = usage
    genai.GenerateContentResponse.model_validate(body)
    return body


GEMINI_USAGE: JSON = {
    "promptTokenCount": 8,
    "candidatesTokenCount": 12,
    "thoughtsTokenCount": 30,
    "totalTokenCount": 50,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
}
GEMINI_STREAM = sse(
    gemini_response("Hel", finish=None, usage={"promptTokenCount": 8, "totalTokenCount": 8}),
    gemini_response("lo", finish=None, usage={"promptTokenCount": 8, "totalTokenCount": 8}),
    gemini_response("", finish="MAX_TOKENS", usage=GEMINI_USAGE),
)


def error_body(fmt: str, status: int, message: str) -> JSON:
    """The provider's own error body for `status`, validated with its SDK."""
    if fmt == "anthropic":
        kinds = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error"}
        kinds |= {404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 503: "overloaded_error"}
        body: JSON = {
            "type": "error",
            "error": {"type": kinds[status], "message": message},
            "request_id": "req_1",
        }
        ErrorResponse.model_validate(body)
    elif fmt == "google":
        statuses = {
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
        }
        statuses |= {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
        body = {"error": {"code": status, "message": message, "status": statuses[status]}}
        assert genai_errors.APIError(status, body).message == message
    else:
        kinds = {429: "requests", 500: "server_error", 503: "server_error"}
        codes = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
        kind = kinds.get(status, "invalid_request_error")
        body = {"error": {"message": message, "type": kind, "param": None, "code": codes.get(status)}}
        ErrorObject.model_validate(body["error"])
    return body


def error_response(
    fmt: str, status: int, message: str = "something went wrong", **headers: str
) -> httpx.Response:
    return httpx.Response(status, json=error_body(fmt, status, message), headers=headers)


def assert_no_key(exc: BaseException) -> None:
    """No 8-character window of the key in the error, its args, repr, or anything chained to it."""
    windows = {KEY[i : i + 8] for i in range(len(KEY) - 7)}
    seen: BaseException | None = exc
    while seen is not None:
        texts = [str(seen), repr(seen), *(str(arg) for arg in seen.args), str(getattr(seen, "message", ""))]
        assert not any(window in text for window in windows for text in texts), texts
        assert not isinstance(seen, httpx.HTTPError), "an httpx error (it holds the request) is chained"
        assert not any(isinstance(value, httpx.Request) for value in vars(seen).values())
        seen = seen.__cause__ or seen.__context__


# ---- requests: paths, headers, bodies ------------------------------------------------------


async def test_openai_request_is_a_real_chat_completion(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    upstream.reply(httpx.Response(200, json=openai_completion()))
    await adapters["openai"].complete(CALL, KEY)

    request = upstream.last
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("switchyard-router/")
    body = upstream.last_json()
    validated(TypeAdapter(CompletionCreateParamsNonStreaming), body)
    assert body["model"] == "model-x"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
            ],
        },
        {"role": "assistant", "content": "A logo."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this one?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        },
    ]
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.9
    assert body["max_completion_tokens"] == 256
    assert "max_tokens" not in body
    assert body["stop"] == ["END"]
    assert body["seed"] == 7
    assert "stream" not in body


@pytest.mark.parametrize(
    ("provider", "url", "max_field", "seed_field", "stream_options"),
    [
        ("openai", "https://api.openai.com/v1/chat/completions", "max_completion_tokens", "seed", True),
        ("groq", "https://api.groq.com/openai/v1/chat/completions", "max_completion_tokens", "seed", True),
        ("xai", "https://api.x.ai/v1/chat/completions", "max_completion_tokens", "seed", True),
        ("deepseek", "https://api.deepseek.com/chat/completions", "max_tokens", None, True),
        ("mistral", "https://api.mistral.ai/v1/chat/completions", "max_tokens", "random_seed", False),
        ("together", "https://api.together.xyz/v1/chat/completions", "max_tokens", "seed", True),
        ("openrouter", "https://openrouter.ai/api/v1/chat/completions", "max_tokens", "seed", True),
    ],
)
async def test_compatible_providers_get_their_own_dialect(
    upstream: Upstream,
    adapters: dict[str, ProviderAdapter],
    provider: str,
    url: str,
    max_field: str,
    seed_field: str | None,
    stream_options: bool,
) -> None:
    upstream.reply(sse_response(OPENAI_STREAM))
    await collect(adapters[provider])

    assert str(upstream.last.url) == url
    assert upstream.last.headers["authorization"] == f"Bearer {KEY}"
    assert upstream.last.headers["accept"] == "text/event-stream"
    body = upstream.last_json()
    assert body["stream"] is True
    assert body[max_field] == 256
    assert ({"max_tokens", "max_completion_tokens"} - {max_field}).isdisjoint(body)
    for field in ("seed", "random_seed"):
        assert body.get(field) == (7 if field == seed_field else None)
    assert ("stream_options" in body) is stream_options
    if stream_options:
        assert body["stream_options"] == {"include_usage": True}
        validated(TypeAdapter(CompletionCreateParamsStreaming), body)


async def test_text_only_messages_are_plain_strings(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    upstream.reply(
        httpx.Response(200, json=openai_completion()), httpx.Response(200, json=anthropic_message())
    )
    await adapters["deepseek"].complete(TEXT_CALL, KEY)
    assert upstream.last_json()["messages"] == [{"role": "user", "content": "Hi"}]
    await adapters["anthropic"].complete(TEXT_CALL, KEY)
    assert upstream.last_json()["messages"] == [{"role": "user", "content": "Hi"}]


async def test_anthropic_request_is_a_real_messages_call(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    upstream.reply(httpx.Response(200, json=anthropic_message()))
    await adapters["anthropic"].complete(CALL, KEY)

    request = upstream.last
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["authorization"] == f"Bearer {KEY}"  # as anthropic 2.x sends it
    assert "x-api-key" not in request.headers
    assert request.headers["anthropic-version"] == anthropic_adapter.API_VERSION
    assert request.headers["content-type"] == "application/json"
    body = upstream.last_json()
    validated(TypeAdapter(MessageCreateParamsNonStreaming), body)
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
            ],
        },
        {"role": "assistant", "content": "A logo."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this one?"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
            ],
        },
    ]
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (256, 0.3, 0.9)
    assert body["stop_sequences"] == ["END"]
    assert "seed" not in body
    assert "stream" not in body


def test_anthropic_version_is_what_the_installed_sdk_sends() -> None:
    # Keep the header in step with the SDK whose types the fixtures are validated against.
    assert anthropic_adapter.API_VERSION == anthropic._constants.ANTHROPIC_API_VERSION


async def test_anthropic_max_tokens_defaults_and_stream_flag(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    upstream.reply(sse_response(ANTHROPIC_STREAM))
    await collect(adapters["anthropic"], TEXT_CALL)
    body = upstream.last_json()
    validated(TypeAdapter(MessageCreateParamsStreaming), body)
    assert body["max_tokens"] == anthropic_adapter.DEFAULT_MAX_TOKENS
    assert body["stream"] is True
    assert "system" not in body
    assert upstream.last.headers["accept"] == "text/event-stream"


async def test_google_request_is_a_real_generate_content(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    upstream.reply(httpx.Response(200, json=gemini_response(usage=GEMINI_USAGE)))
    await adapters["google"].complete(CALL, KEY)

    request = upstream.last
    assert str(request.url) == "https://generativelanguage.googleapis.com/v1/models/model-x:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in str(request.url)
    assert "authorization" not in request.headers
    body = upstream.last_json()
    contents = [genai.Content.model_validate(item) for item in body["contents"]]
    assert [content.role for content in contents] == ["user", "model", "user"]
    assert body["contents"][0]["parts"] == [
        {"text": "What is in this picture?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
    ]
    assert contents[0].parts is not None
    assert contents[0].parts[1].inline_data is not None
    assert contents[0].parts[1].inline_data.data == PNG
    assert body["contents"][2]["parts"][1] == {"fileData": {"fileUri": "https://example.com/cat.png"}}
    assert genai.Content.model_validate(body["systemInstruction"]).parts == [genai.Part(text="Be brief.")]
    config = genai.GenerationConfig.model_validate(body["generationConfig"])  # extra="forbid": no typos
    assert (config.temperature, config.top_p, config.max_output_tokens) == (0.3, 0.9, 256)
    assert (config.stop_sequences, config.seed) == (["END"], 7)


async def test_google_stream_url_is_sse_and_keyless(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    upstream.reply(sse_response(GEMINI_STREAM))
    await collect(adapters["google"], TEXT_CALL)
    url = upstream.last.url
    assert url.path == "/v1/models/model-x:streamGenerateContent"
    assert dict(url.params) == {"alt": "sse"}
    assert KEY not in str(url)
    assert "generationConfig" not in upstream.last_json()


@pytest.mark.parametrize(
    ("provider", "url", "key_header"),
    [
        ("openai", "https://api.openai.com/v1/models", "authorization"),
        ("mistral", "https://api.mistral.ai/v1/models", "authorization"),
        ("anthropic", "https://api.anthropic.com/v1/models", "authorization"),
        ("google", "https://generativelanguage.googleapis.com/v1/models", "x-goog-api-key"),
    ],
)
async def test_verify_lists_models(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], provider: str, url: str, key_header: str
) -> None:
    upstream.reply(httpx.Response(200, json={"data": [], "models": []}))
    await adapters[provider].verify(KEY)
    assert (upstream.last.method, str(upstream.last.url)) == ("GET", url)
    assert KEY in upstream.last.headers[key_header]

    fmt = provider if provider in FORMATS else "openai"
    upstream.reply(error_response(fmt, 401, "invalid key"))
    with pytest.raises(CredentialRejected):
        await adapters[provider].verify(KEY)


# ---- responses: non-streaming and streaming parses ----------------------------------------


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter"), ("tool_calls", "other")],
)
async def test_openai_completion_parse(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], finish: str, expected: FinishReason
) -> None:
    upstream.reply(httpx.Response(200, json=openai_completion(finish)))
    completion = await adapters["openai"].complete(CALL, KEY)
    assert completion == Completion("Hello! How can I help?", Usage(19, 10), expected)


async def test_openai_stream_parse(upstream: Upstream, adapters: dict[str, ProviderAdapter]) -> None:
    upstream.reply(sse_response(OPENAI_STREAM))
    assert await collect(adapters["openai"]) == [
        TextDelta("Hello"),
        TextDelta(" there"),
        StreamEnd(Usage(9, 2), "length"),
    ]


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("tool_use", "other"),
    ],
)
async def test_anthropic_message_parse(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], stop_reason: str, expected: FinishReason
) -> None:
    upstream.reply(httpx.Response(200, json=anthropic_message(stop_reason)))
    completion = await adapters["anthropic"].complete(CALL, KEY)
    # Cache reads and writes are input tokens too.
    assert completion == Completion("Hi! I'm Claude.", Usage(2200, 503), expected)


async def test_anthropic_stream_parse(upstream: Upstream, adapters: dict[str, ProviderAdapter]) -> None:
    upstream.reply(sse_response(ANTHROPIC_STREAM))
    assert await collect(adapters["anthropic"]) == [
        TextDelta("Hello"),
        TextDelta("!"),
        StreamEnd(Usage(25, 15), "length"),
    ]


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "other"),
    ],
)
async def test_gemini_response_parse(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], finish: str, expected: FinishReason
) -> None:
    upstream.reply(httpx.Response(200, json=gemini_response("Hello", finish, GEMINI_USAGE)))
    completion = await adapters["google"].complete(CALL, KEY)
    # Thinking tokens are billed output, so they count with the candidates' tokens.
    assert completion == Completion("Hello", Usage(8, 42), expected)


async def test_gemini_thoughts_are_not_the_answer(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    body = gemini_response("Answer")
    body["candidates"][0]["content"]["parts"].insert(0, {"text": "Let me think...", "thought": True})
    genai.GenerateContentResponse.model_validate(body)
    upstream.reply(httpx.Response(200, json=body))
    assert (await adapters["google"].complete(CALL, KEY)).text == "Answer"


async def test_gemini_blocked_prompt_is_content_filter(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    body = gemini_response(None, usage={"promptTokenCount": 8, "totalTokenCount": 8})
    body["promptFeedback"] = {"blockReason": "PROHIBITED_CONTENT"}
    genai.GenerateContentResponse.model_validate(body)
    upstream.reply(httpx.Response(200, json=body))
    assert await adapters["google"].complete(CALL, KEY) == Completion("", Usage(8, 0), "content_filter")


async def test_gemini_stream_parse(upstream: Upstream, adapters: dict[str, ProviderAdapter]) -> None:
    upstream.reply(sse_response(GEMINI_STREAM))
    assert await collect(adapters["google"]) == [
        TextDelta("Hel"),
        TextDelta("lo"),
        StreamEnd(Usage(8, 42), "length"),
    ]


# ---- errors ---------------------------------------------------------------------------------

STATUS_ERRORS = [
    (400, BadRequest),
    (401, CredentialRejected),
    (403, CredentialRejected),
    (404, BadRequest),
    (500, ProviderUnavailable),
    (503, ProviderUnavailable),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("status", "expected"), STATUS_ERRORS)
async def test_status_maps_to_typed_error_with_the_providers_message(
    upstream: Upstream,
    adapters: dict[str, ProviderAdapter],
    fmt: str,
    status: int,
    expected: type[ProviderError],
) -> None:
    upstream.reply(error_response(fmt, status, "max_tokens: must be at most 8192"))
    with pytest.raises(expected) as caught:
        await adapters[fmt].complete(CALL, KEY)
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.provider == fmt
    assert "max_tokens: must be at most 8192" in caught.value.message


@pytest.mark.parametrize("fmt", FORMATS)
async def test_stream_request_errors_are_typed_too(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], fmt: str
) -> None:
    upstream.reply(error_response(fmt, 429, "slow down", **{"retry-after": "12"}))
    with pytest.raises(RateLimited) as caught:
        await collect(adapters[fmt])
    assert caught.value.retry_after == 12
    assert "slow down" in caught.value.message


def _http_date(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


HTTP_DATE_IN_120_SECONDS = "<http-date +120s>"  # made when the test runs, not when it is collected


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"retry-after": "7"}, 7, 7),
        ({"retry-after": "1.5"}, 1.5, 1.5),
        ({"retry-after": HTTP_DATE_IN_120_SECONDS}, 100, 120),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25, 0.25),
        ({"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "2.5s"}, 360, 360),
        ({"x-ratelimit-reset-tokens": "120ms"}, 0.12, 0.12),
    ],
)
async def test_rate_limited_carries_retry_after(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], headers: dict[str, str], low: float, high: float
) -> None:
    headers = {k: _http_date(120) if v == HTTP_DATE_IN_120_SECONDS else v for k, v in headers.items()}
    upstream.reply(error_response("openai", 429, "Rate limit reached for requests", **headers))
    with pytest.raises(RateLimited) as caught:
        await adapters["openai"].complete(CALL, KEY)
    assert caught.value.retry_after is not None
    assert low <= caught.value.retry_after <= high


async def test_rate_limited_without_a_hint(upstream: Upstream, adapters: dict[str, ProviderAdapter]) -> None:
    upstream.reply(error_response("anthropic", 429, "Number of request tokens has exceeded your rate limit"))
    with pytest.raises(RateLimited) as caught:
        await adapters["anthropic"].complete(CALL, KEY)
    assert caught.value.retry_after is None


async def test_gemini_retry_info_and_bad_key(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    quota = error_body("google", 429, "You exceeded your current quota.")
    quota["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]
    bad_key = error_body("google", 400, "API key not valid. Please pass a valid API key.")
    bad_key["error"]["details"] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        }
    ]
    upstream.reply(httpx.Response(429, json=quota), httpx.Response(400, json=bad_key))
    with pytest.raises(RateLimited) as limited:
        await adapters["google"].complete(CALL, KEY)
    assert limited.value.retry_after == 37
    # Google answers a bad key with 400, not 401: it is still the key that was refused.
    with pytest.raises(CredentialRejected):
        await adapters["google"].complete(CALL, KEY)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (httpx.ConnectError, "could not connect"),
        (httpx.ConnectTimeout, "connect timeout"),
        (httpx.ReadTimeout, "first byte timeout"),
        (httpx.RemoteProtocolError, "connection lost"),
        (httpx.ReadError, "connection lost"),
    ],
)
async def test_transport_failures_are_unavailable_and_keyless(
    upstream: Upstream,
    adapters: dict[str, ProviderAdapter],
    fmt: str,
    streaming: bool,
    failure: type[httpx.TransportError],
    words: str,
) -> None:
    async def fail(request: httpx.Request) -> httpx.Response:
        # A transport error's text and request both carry the key: neither may reach the caller.
        raise failure(f"failed sending {KEY} with {request.headers}", request=request)

    upstream.reply(fail)
    with pytest.raises(ProviderUnavailable) as caught:
        await (collect(adapters[fmt]) if streaming else adapters[fmt].complete(CALL, KEY))
    assert words in caught.value.message
    assert_no_key(caught.value)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_stalled_stream_fails_with_idle_timeout(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], fmt: str
) -> None:
    first = {
        "openai": sse(OPENAI_CHUNKS[1]),
        "anthropic": anthropic_events(ANTHROPIC_START, anthropic_text("Hi")),
    }
    first["google"] = sse(gemini_response("Hi", finish=None))
    body = ScriptedStream([first[fmt]], then="stall")
    upstream.reply(httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body))

    received: list[TextDelta | StreamEnd] = []
    started = asyncio.get_running_loop().time()
    with pytest.raises(ProviderUnavailable, match="stream idle timeout"):
        await drain(adapters[fmt], received)
    assert received == [TextDelta("Hello" if fmt == "openai" else "Hi")]
    assert asyncio.get_running_loop().time() - started < IDLE + 1
    assert body.closed


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("then", ["end", "break"])
async def test_truncated_or_broken_stream_is_unavailable(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], fmt: str, then: str
) -> None:
    partial = {
        "openai": sse(*OPENAI_CHUNKS),  # everything but [DONE]
        "anthropic": anthropic_events(
            ANTHROPIC_START, anthropic_text("Hi"), ANTHROPIC_DELTA
        ),  # no message_stop
        "google": sse(gemini_response("Hi", finish=None)),  # no chunk with a finishReason
    }
    stream = ScriptedStream([partial[fmt]], then=then)
    upstream.reply(httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream))
    with pytest.raises(ProviderUnavailable, match="truncated" if then == "end" else "broken"):
        await collect(adapters[fmt])
    assert stream.closed


@pytest.mark.parametrize("fmt", FORMATS)
async def test_malformed_bodies_are_unavailable_with_a_clean_message(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], fmt: str
) -> None:
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    upstream.reply(
        httpx.Response(200, content=b"{not json", headers={"content-type": "application/json"}),
        httpx.Response(200, json={"unexpected": "shape"}),
        httpx.Response(502, content=html, headers={"content-type": "text/html"}),
        sse_response(b"data: {truncated json\n\n"),
        httpx.Response(200, json=openai_completion()),  # a JSON body where an event stream belongs
    )
    with pytest.raises(ProviderUnavailable, match="not a JSON object"):
        await adapters[fmt].complete(CALL, KEY)
    with pytest.raises(ProviderUnavailable, match="unexpected shape"):
        await adapters[fmt].complete(CALL, KEY)
    with pytest.raises(ProviderUnavailable) as caught:
        await adapters[fmt].complete(CALL, KEY)
    assert caught.value.status == 502
    assert "<html>" not in caught.value.message
    with pytest.raises(ProviderUnavailable, match="stream event is not a JSON object"):
        await collect(adapters[fmt])
    with pytest.raises(ProviderUnavailable, match="not an event stream"):
        await collect(adapters[fmt])


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("overloaded_error", ProviderUnavailable),
        ("api_error", ProviderUnavailable),
        ("rate_limit_error", RateLimited),
        ("invalid_request_error", BadRequest),
        ("authentication_error", CredentialRejected),
    ],
)
async def test_anthropic_error_event_mid_stream(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], kind: str, expected: type[ProviderError]
) -> None:
    error = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    upstream.reply(
        sse_response(anthropic_events(ANTHROPIC_START, anthropic_text("Hi"), ANTHROPIC_PING, error))
    )
    received: list[TextDelta | StreamEnd] = []
    with pytest.raises(expected) as caught:
        await drain(adapters["anthropic"], received)
    assert type(caught.value) is expected
    assert received == [TextDelta("Hi")]
    assert "Overloaded" in caught.value.message


# ---- the key never leaks --------------------------------------------------------------------

ECHOES = [
    f"Incorrect API key provided: {KEY}.",
    f"Incorrect API key provided: {KEY[:12]}{'*' * 20}{KEY[-10:]}.",
    f"key={KEY[5:25]} is not valid",
]


@pytest.mark.parametrize("provider", [*COMPAT, "anthropic", "google"])
@pytest.mark.parametrize("status", [400, 401, 429, 500])
@pytest.mark.parametrize("echo", ECHOES)
async def test_provider_echoing_the_key_never_leaks_it(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], provider: str, status: int, echo: str
) -> None:
    fmt = provider if provider in FORMATS else "openai"
    upstream.reply(error_response(fmt, status, echo))
    with pytest.raises(ProviderError) as caught:
        await adapters[provider].complete(CALL, KEY)
    assert "[redacted]" in caught.value.message
    assert_no_key(caught.value)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_key_echoed_in_a_stream_error_event_never_leaks(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], fmt: str
) -> None:
    message = f"Incorrect API key provided: {KEY}"
    if fmt == "anthropic":
        body = anthropic_events(
            ANTHROPIC_START, {"type": "error", "error": {"type": "api_error", "message": message}}
        )
    else:  # OpenAI-compatible and Gemini streams put an error object in a data event
        body = sse(error_body(fmt, 500, message))
    upstream.reply(sse_response(body))
    with pytest.raises(ProviderUnavailable) as caught:
        await collect(adapters[fmt])
    assert_no_key(caught.value)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("bad_key", ["", "sk-caf\u00e9-0123456789", "sk-line\r\nX-Injected: 1"])
async def test_unsendable_key_is_rejected_before_any_request(
    upstream: Upstream, adapters: dict[str, ProviderAdapter], fmt: str, bad_key: str
) -> None:
    with pytest.raises(CredentialRejected) as caught:
        await adapters[fmt].complete(CALL, bad_key)
    assert upstream.requests == []
    assert not bad_key or bad_key not in repr(caught.value)


# ---- registry and client --------------------------------------------------------------------


async def test_registry_builds_one_adapter_per_provider(upstream: Upstream) -> None:
    built = build_adapters(
        settings(openai_base_url="http://127.0.0.1:9/v1/", anthropic_base_url="http://127.0.0.1:9/anthropic"),
        transport=httpx.MockTransport(upstream),
    )
    try:
        assert set(built) == set(PROVIDERS)
        assert isinstance(built["anthropic"], AnthropicAdapter)
        assert isinstance(built["google"], GoogleAdapter)
        assert all(
            isinstance(built[name], OpenAICompatAdapter) and built[name].name == name for name in COMPAT
        )
        # ROUTER_<PROVIDER>_BASE_URL means what the SDK's base_url means: paths are appended to it.
        upstream.reply(
            httpx.Response(200, json=openai_completion()), httpx.Response(200, json=anthropic_message())
        )
        await built["openai"].complete(TEXT_CALL, KEY)
        assert str(upstream.last.url) == "http://127.0.0.1:9/v1/chat/completions"
        await built["anthropic"].complete(TEXT_CALL, KEY)
        assert str(upstream.last.url) == "http://127.0.0.1:9/anthropic/v1/messages"
    finally:
        await aclose_all(built)
    clients = [vars(adapter)["_client"] for adapter in built.values()]
    assert all(isinstance(client, httpx.AsyncClient) and client.is_closed for client in clients)


async def test_client_has_explicit_timeouts_and_no_redirects() -> None:
    client = make_client(
        "https://api.example.com/v1", connect_timeout=2, first_byte_timeout=45, max_connections=7
    )
    async with client:
        assert client.timeout == httpx.Timeout(connect=2, read=45, write=45, pool=2)
        assert not client.follow_redirects
        assert "authorization" not in client.headers


async def test_consumer_stopping_early_closes_the_response(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    body = ScriptedStream([sse(*OPENAI_CHUNKS[:3])], then="stall")
    upstream.reply(httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body))
    stream = cast(AsyncGenerator[TextDelta | StreamEnd, None], adapters["openai"].stream(CALL, KEY))
    assert await anext(stream) == TextDelta("Hello")
    await stream.aclose()
    assert body.closed


def test_retry_after_parses_dates_in_the_past_as_zero() -> None:
    assert retry_after(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None


async def test_first_event_may_take_the_first_byte_timeout_not_just_idle(upstream: Upstream) -> None:
    client = make_client(
        PROVIDERS["openai"].base_url,
        connect_timeout=1,
        first_byte_timeout=0.6,
        max_connections=2,
        transport=httpx.MockTransport(upstream),
    )
    adapter = OpenAICompatAdapter("openai", client, stream_idle_timeout=0.1)
    try:
        # A reasoning model: headers at once, first token later than the idle timeout.
        slow_start = ScriptedStream([OPENAI_STREAM], then="end", delay=0.3)
        never = ScriptedStream([], then="stall")
        headers = {"content-type": "text/event-stream"}
        upstream.reply(httpx.Response(200, headers=headers, stream=slow_start))
        upstream.reply(httpx.Response(200, headers=headers, stream=never))
        assert (await collect(adapter))[-1] == StreamEnd(Usage(9, 2), "length")
        with pytest.raises(ProviderUnavailable, match="first byte timeout"):
            await collect(adapter)
        assert never.closed
    finally:
        await adapter.aclose()


async def test_validation_errors_name_the_field(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    # Mistral's 422: its error envelope around a FastAPI validation body.
    detail = [{"type": "missing", "loc": ["body", "messages"], "msg": "Field required", "input": {}}]
    body = {"object": "error", "message": {"detail": detail}, "type": "invalid_request_error", "param": None}
    upstream.reply(httpx.Response(422, json=body))
    with pytest.raises(BadRequest, match="HTTP 422: messages: Field required"):
        await adapters["mistral"].complete(CALL, KEY)


async def test_key_is_sent_without_surrounding_whitespace(
    upstream: Upstream, adapters: dict[str, ProviderAdapter]
) -> None:
    upstream.reply(httpx.Response(200, json=gemini_response()))
    await adapters["google"].complete(CALL, f" {KEY}\n")
    assert upstream.last.headers["x-goog-api-key"] == KEY
