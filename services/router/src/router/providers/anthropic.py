"""Anthropic's Messages API wire format."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from router.providers.base import (
    ChatMessage,
    Completion,
    FinishReason,
    ImageInput,
    ProviderCall,
    StreamEnd,
    Usage,
)
from router.providers.http.bodies import JSON, event_json
from router.providers.http.errors import error_from_payload
from router.providers.http_adapter import HttpAdapter, StreamFold

__all__ = ["API_VERSION", "DEFAULT_MAX_TOKENS", "AnthropicAdapter"]

# The version the official SDK we test against sends (anthropic._constants.ANTHROPIC_API_VERSION);
# a test fails when an SDK upgrade moves it, so the two change together.
API_VERSION = "2026-10-21"
# max_tokens is required by the API; used when the call sets no limit.
DEFAULT_MAX_TOKENS = 4096

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


class _MessageStream(StreamFold):
    """Folds message_start / content_block_delta / message_delta / message_stop into usage and text."""

    __slots__ = ("input_tokens", "output_tokens", "stop_reason")
    missing = "no message_stop"

    def __init__(self, provider: str, api_key: str) -> None:
        super().__init__(provider, api_key)
        self.input_tokens = 0
        self.output_tokens = 0
        self.stop_reason: str | None = None

    def feed(self, event: ServerSentEvent) -> str:
        if event.event == "ping":
            return ""
        data = event_json(self.provider, event)
        if event.event == "error" or data.get("type") == "error":
            raise error_from_payload(self.provider, data.get("error"), self.api_key)
        kind = data["type"]
        if kind == "message_start":
            self._add_usage(data["message"]["usage"])
        elif kind == "content_block_delta" and data["delta"].get("type") == "text_delta":
            return str(data["delta"]["text"])
        elif kind == "message_delta":
            self.stop_reason = data["delta"].get("stop_reason") or self.stop_reason
            self._add_usage(data.get("usage") or {})
        elif kind == "message_stop":
            self.stopped = True
        return ""

    def end(self) -> StreamEnd | None:
        if not self.stopped:
            return None
        usage = Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens)
        return StreamEnd(usage=usage, finish_reason=_finish(self.stop_reason))

    def _add_usage(self, usage: Any) -> None:
        # message_delta's counts are cumulative, so a later value replaces an earlier one.
        if usage.get("input_tokens") is not None:
            self.input_tokens = _input_tokens(usage)
        if usage.get("output_tokens") is not None:
            self.output_tokens = int(usage["output_tokens"])


class AnthropicAdapter(HttpAdapter):
    """POST {base}/v1/messages with the key as a bearer token and `anthropic-version`, exactly as the
    official anthropic 2.x SDK sends them; GET {base}/v1/models to verify."""

    models_path = "/v1/models"
    stream_fold = _MessageStream

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        stream_idle_timeout: float,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        name: str = "anthropic",
    ) -> None:
        super().__init__(name, client, stream_idle_timeout=stream_idle_timeout)
        self._default_max_tokens = default_max_tokens

    def _call_request(self, call: ProviderCall, api_key: str, *, stream: bool) -> httpx.Request:
        return self._request("POST", "/v1/messages", api_key, json=self._body(call, stream=stream))

    def _headers(self, key: str, *, has_body: bool) -> dict[str, str]:
        headers = {
            "authorization": f"Bearer {key}",
            "anthropic-version": API_VERSION,
            "accept": "application/json",
        }
        if has_body:
            headers["content-type"] = "application/json"
        return headers

    def _completion(self, body: JSON) -> Completion:
        text = "".join(block["text"] for block in body["content"] if block.get("type") == "text")
        usage, finish = _usage(body["usage"]), _finish(body.get("stop_reason"))
        return Completion(text=text, usage=usage, finish_reason=finish)

    def _body(self, call: ProviderCall, *, stream: bool) -> JSON:
        params = call.params
        body: JSON = {
            "model": call.provider_model,
            "max_tokens": params.max_output_tokens or self._default_max_tokens,
            "messages": [_message(m) for m in call.messages if m.role != "system"],
        }
        # The API takes system text at the top level only (and text only: images there are dropped).
        if system := "\n\n".join(m.text for m in call.messages if m.role == "system" and m.text):
            body["system"] = system
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.stop:
            body["stop_sequences"] = list(params.stop)
        # No seed: the Messages API has no such parameter.
        if stream:
            body["stream"] = True
        return body


def _message(message: ChatMessage) -> JSON:
    if all(isinstance(part, str) for part in message.parts):
        return {"role": message.role, "content": message.text}
    return {"role": message.role, "content": [_block(part) for part in message.parts if part != ""]}


def _block(part: str | ImageInput) -> JSON:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if part.url:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    data = base64.b64encode(part.data).decode("ascii")
    return {"type": "image", "source": {"type": "base64", "media_type": part.media_type, "data": data}}


def _input_tokens(usage: Any) -> int:
    # Cached prompt tokens are billed input too; the API reports them apart from input_tokens.
    fields = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return sum(int(usage.get(field) or 0) for field in fields)


def _usage(usage: Any) -> Usage:
    return Usage(input_tokens=_input_tokens(usage), output_tokens=int(usage.get("output_tokens") or 0))


def _finish(stop_reason: object) -> FinishReason:
    return _FINISH.get(str(stop_reason), "other")
