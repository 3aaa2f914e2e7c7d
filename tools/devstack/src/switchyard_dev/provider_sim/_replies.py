"""Replies: the answer to each call in its provider's wire format, plain or streamed.

An `Answer` is what the provider would send; how it is sent (late, stalled, cut short) is
`_delivery`'s business. The answer already reflects a fault's status, HTML page or huge body.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from switchyard_dev.provider_sim import _anthropic, _google, _openai
from switchyard_dev.provider_sim._accounts import Accounts
from switchyard_dev.provider_sim._errors import Reason, auth_failure_status, html_page, render_error
from switchyard_dev.provider_sim._faults import Fault
from switchyard_dev.provider_sim._providers import OPENAI_COMPATIBLE, PROVIDERS
from switchyard_dev.provider_sim._requests import Operation, RecordedCall

_JSON = b"application/json"
_GOOGLE_JSON = b"application/json; charset=UTF-8"
_SSE = b"text/event-stream; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as the provider would send it: a whole `body`, or `frames` (one per stream event)."""

    status: int
    content_type: bytes
    body: bytes = b""
    frames: list[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Replying:
    """What every answer to one call shares: its provider, its serial number and request-id header."""

    call: RecordedCall
    number: int
    echo_key: bool

    @property
    def provider(self) -> str:
        return self.call.provider

    @property
    def request_id(self) -> str:
        return f"req_sim{self.number:08d}"

    @property
    def headers(self) -> dict[str, str]:
        if self.provider in OPENAI_COMPATIBLE:
            return {"x-request-id": self.request_id}
        if self.provider == "anthropic":
            return {"request-id": self.request_id}
        return {}

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        reason: Reason = "other",
        retry_after: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> Answer:
        """The provider's own error response."""
        rendered = render_error(
            self.provider,
            status,
            message,
            reason=reason,
            api_key=self.call.api_key,
            echo_key=self.echo_key,
            retry_after=retry_after,
            param=param,
            code=code,
            request_id=self.request_id,
        )
        content_type = _GOOGLE_JSON if self.provider == "google" else _JSON
        return Answer(
            rendered.status, content_type, _dumps(rendered.body), headers={**self.headers, **rendered.headers}
        )

    def json(self, payload: Any, content_type: bytes = _JSON) -> Answer:
        return Answer(200, content_type, _dumps(payload), headers=self.headers)

    def stream(self, frames: list[bytes], content_type: bytes = _SSE) -> Answer:
        return Answer(200, content_type, frames=frames, headers=self.headers)


def answer(
    call: RecordedCall, operation: Operation, fault: Fault | None, *, number: int, accounts: Accounts
) -> Answer:
    """The answer to `call`: a refusal, a scripted failure, or what `operation` asked for.

    `number` (one per call) makes the request and response ids.
    """
    if call.provider not in PROVIDERS:
        return Answer(404, _JSON, _dumps({"error": f"unknown provider {call.provider!r}"}))
    replying = _Replying(call, number, echo_key=fault is not None and fault.echo_key)
    refusal = _refusal(replying, accounts)
    if refusal is not None:
        return refusal
    if fault is not None and (fault.not_json or fault.status is not None):
        return _scripted_failure(replying, fault)
    huge = fault.huge_body_bytes if fault is not None else None
    if operation.kind == "models":
        return replying.json(_models_list(call.provider, accounts.models(call.provider)))
    if operation.kind == "model":
        return _model(replying, operation.model, accounts.models(call.provider))
    if operation.kind == "chat":
        return _chat_completion(replying, call.json_body, operation.stream, huge)
    if operation.kind == "messages":
        return _anthropic_message(replying, call.json_body, operation.stream, huge)
    if operation.kind == "generate":
        return _google_generation(replying, operation, call.json_body, huge)
    return replying.error(404, f"Unknown request URL: {call.method} {call.path}")


def _refusal(replying: _Replying, accounts: Accounts) -> Answer | None:
    """The provider's auth or header error, if the call would not get past its front door."""
    call = replying.call
    if not call.api_key:
        return replying.error(auth_failure_status(call.provider, "missing_key"), reason="missing_key")
    if call.provider == "anthropic" and "anthropic-version" not in call.headers:
        return replying.error(400, "anthropic-version: header is required")
    if not accounts.accepts(call.provider, call.api_key):
        return replying.error(auth_failure_status(call.provider, "invalid_key"), reason="invalid_key")
    return None


def _scripted_failure(replying: _Replying, fault: Fault) -> Answer:
    """A `fail_next` status: an HTML page (`not_json`) or the provider's error body, maybe huge."""
    if fault.not_json:
        status = fault.status or 200
        return Answer(status, b"text/html; charset=utf-8", html_page(status), headers=replying.headers)
    assert fault.status is not None
    message = fault.message
    if fault.huge_body_bytes is not None:
        message = (message or "error") + " " + "x" * fault.huge_body_bytes
    return replying.error(fault.status, message, retry_after=fault.retry_after)


def _models_list(provider: str, ids: tuple[str, ...]) -> dict[str, Any]:
    if provider == "anthropic":
        return _anthropic.models_list(ids)
    if provider == "google":
        return _google.models_list(ids)
    return _openai.models_list(provider, ids)


def _model(replying: _Replying, model: str | None, served: tuple[str, ...]) -> Answer:
    if model is None or model not in served:
        return replying.error(404, f"The model '{model}' does not exist")
    if replying.provider == "anthropic":
        return replying.json(_anthropic.model_entry(model))
    if replying.provider == "google":
        return replying.json(_google.model_entry(model))
    return replying.json(_openai.model_entry(replying.provider, model))


def _chat_completion(replying: _Replying, body: Any, stream: bool, huge: int | None) -> Answer:
    problem = _openai.validate(body)
    if problem is not None:
        message, param, code = problem
        return replying.error(400, message, param=param, code=code)
    gen = _openai.generation(body, huge)
    model = str(body["model"])
    id_ = f"chatcmpl-sim{replying.number:08d}"
    created = int(time.time())
    if not stream:
        return replying.json(_openai.completion(replying.provider, model, gen, id_=id_, created=created))
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    frames = _openai.stream_frames(
        replying.provider, model, gen, id_=id_, created=created, include_usage=include_usage
    )
    return replying.stream(frames)


def _anthropic_message(replying: _Replying, body: Any, stream: bool, huge: int | None) -> Answer:
    problem = _anthropic.validate(body)
    if problem is not None:
        return replying.error(400, problem)
    gen = _anthropic.generation(body, huge)
    model = str(body["model"])
    id_ = f"msg_sim{replying.number:08d}"
    if stream:
        return replying.stream(_anthropic.stream_frames(model, gen, id_=id_))
    return replying.json(_anthropic.message(model, gen, id_=id_))


def _google_generation(replying: _Replying, operation: Operation, body: Any, huge: int | None) -> Answer:
    """generateContent, or streamGenerateContent as SSE (``alt=sse``) or as one streamed JSON array."""
    problem = _google.validate(body)
    if problem is not None:
        return replying.error(400, problem)
    gen = _google.generation(body, huge)
    model = operation.model or ""
    id_ = f"sim{replying.number:08d}"
    if not operation.stream:
        return replying.json(_google.response(model, gen, id_=id_), _GOOGLE_JSON)
    chunks = _google.stream_chunks(model, gen, id_=id_)
    if operation.sse:
        return replying.stream(_google.sse_frames(chunks), b"text/event-stream")
    return replying.stream(_google.json_array_frames(chunks), _GOOGLE_JSON)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
