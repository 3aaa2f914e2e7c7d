"""Request parsing: what a call to the simulator asked for, and the record kept of it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request

from switchyard_dev.provider_sim import _google
from switchyard_dev.provider_sim._providers import OPENAI_COMPATIBLE, PROVIDERS

Endpoint = Literal["generate", "models", "any"]
OperationKind = Literal["chat", "messages", "generate", "models", "model", "unknown"]

_KEY_QUERY_PARAMS = frozenset({"key", "api_key", "apikey", "access_token"})


@dataclass(slots=True)
class RecordedCall:
    """One request as the simulator received it.

    `path` is the path the real provider would see (the simulator's ``/<provider>`` prefix removed),
    e.g. ``/v1/chat/completions``, ``/v1/messages``, ``/v1beta/models/gemini-2.5-flash:generateContent``.
    `headers` has lower-case names. `json_body` is None when the body was empty or not JSON.
    `api_key` is taken the way the provider authenticates: ``Authorization: Bearer`` (OpenAI-compatible),
    ``x-api-key`` or ``Authorization: Bearer`` (Anthropic; its 2.x SDK sends the latter),
    ``x-goog-api-key`` (Google; a ``key`` query parameter is also accepted, as
    Google does, but is recorded in `ProviderSimulator.violations`). `status` is the HTTP status the
    simulator answered; `stream` whether a streamed reply was asked for. `disconnected` becomes True
    when the client went away before the reply was complete; it is observed only while the simulator
    waits (`delay_first_byte`, `stall_after_events`, `paced_stream_interval`).
    """

    provider: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json_body: Any
    api_key: str | None
    started_at: float
    status: int | None = None
    stream: bool = False
    disconnected: bool = False
    client_port: int | None = None  # the caller's TCP port: equal ports mean a reused connection


@dataclass(frozen=True, slots=True)
class Operation:
    """What a call asks the provider to do; `sse` tells Google's two stream encodings apart."""

    kind: OperationKind
    model: str | None = None
    stream: bool = False
    sse: bool = True

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint a scripted fault must name to apply to this call (None: no fault applies)."""
        if self.kind in ("chat", "messages", "generate"):
            return "generate"
        if self.kind in ("models", "model"):
            return "models"
        return None


async def read_call(request: Request) -> tuple[RecordedCall, Operation]:
    """The record of a request to ``/<provider>/<rest>``, and the operation it asks for."""
    provider: str = request.path_params["provider"]
    path = "/" + request.path_params["rest"]
    body = _json_or_none(await request.body())
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in request.scope["headers"]
    }
    query = dict(request.query_params)
    operation = parse_operation(provider, request.method, path, body, query)
    call = RecordedCall(
        provider=provider,
        method=request.method,
        path=path,
        query=query,
        headers=headers,
        json_body=body,
        api_key=api_key_of(provider, headers, query),
        started_at=time.monotonic(),
        stream=operation.stream,
        client_port=request.client.port if request.client else None,
    )
    return call, operation


def key_in_url(call: RecordedCall) -> list[str]:
    """A violation for each query parameter that could carry an API key (a key in a URL gets logged)."""
    return [
        f"{call.provider}: API key sent in the URL query parameter {name!r} ({call.method} {call.path})"
        for name in _KEY_QUERY_PARAMS.intersection(call.query)
    ]


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def api_key_of(provider: str, headers: dict[str, str], query: dict[str, str]) -> str | None:
    """The key a call carries, read where `provider` reads it."""
    if provider == "google":
        return headers.get("x-goog-api-key") or query.get("key")
    if provider == "anthropic" and headers.get("x-api-key"):
        return headers["x-api-key"]
    if provider in PROVIDERS:
        # OpenAI-compatible providers, and Anthropic too: its SDK (2.x) sends the key as a bearer token.
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


def parse_operation(provider: str, method: str, path: str, body: Any, query: dict[str, str]) -> Operation:
    """The operation `method path` asks of `provider` (kind "unknown" for anything it does not serve)."""
    wants_stream = isinstance(body, dict) and body.get("stream") is True
    if provider in OPENAI_COMPATIBLE:
        return _rest_operation(method, path, ("/v1/chat/completions", "chat"), wants_stream)
    if provider == "anthropic":
        return _rest_operation(method, path, ("/v1/messages", "messages"), wants_stream)
    if provider == "google":
        return _google_operation(method, path, query)
    return Operation("unknown")


def _rest_operation(
    method: str, path: str, generate: tuple[str, OperationKind], wants_stream: bool
) -> Operation:
    """OpenAI's and Anthropic's layout: one POST path that generates, and ``/v1/models[/{id}]``."""
    generate_path, generate_kind = generate
    if path == generate_path and method == "POST":
        return Operation(generate_kind, stream=wants_stream)
    if path == "/v1/models" and method == "GET":
        return Operation("models")
    if path.startswith("/v1/models/") and method == "GET":
        return Operation("model", model=path.removeprefix("/v1/models/"))
    return Operation("unknown")


def _google_operation(method: str, path: str, query: dict[str, str]) -> Operation:
    """Gemini's layout: ``/{v1beta|v1}/models[/{name}[:{action}]]``."""
    version, _, rest = path.removeprefix("/").partition("/")
    if version not in ("v1beta", "v1") or not rest.startswith("models"):
        return Operation("unknown")
    if rest == "models" and method == "GET":
        return Operation("models")
    name, _, action = rest.removeprefix("models/").partition(":")
    if not name or "/" in name:
        return Operation("unknown")
    if not action and method == "GET":
        return Operation("model", model=name)
    if action in _google.ACTIONS and method == "POST":
        return Operation(
            "generate", model=name, stream=action == "streamGenerateContent", sse=query.get("alt") == "sse"
        )
    return Operation("unknown")
