"""OpenAI's Chat Completions wire format, spoken by OpenAI and the providers that copy it."""

from __future__ import annotations

import base64
from dataclasses import dataclass
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

__all__ = ["DIALECTS", "Dialect", "OpenAICompatAdapter"]

_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


@dataclass(frozen=True, slots=True)
class Dialect:
    """Where a provider's request body differs from OpenAI's own."""

    max_tokens_field: str = "max_tokens"
    seed_field: str | None = "seed"
    stream_usage_option: bool = True  # accepts stream_options.include_usage


DIALECTS: dict[str, Dialect] = {
    # OpenAI deprecated max_tokens, and its reasoning models refuse it.
    "openai": Dialect(max_tokens_field="max_completion_tokens"),
    "groq": Dialect(max_tokens_field="max_completion_tokens"),
    "xai": Dialect(max_tokens_field="max_completion_tokens"),
    "deepseek": Dialect(seed_field=None),  # no seed parameter
    # Mistral names the seed random_seed, and sends usage in the last chunk without being asked.
    "mistral": Dialect(seed_field="random_seed", stream_usage_option=False),
    "together": Dialect(),
    "openrouter": Dialect(),
}

_NO_USAGE = Usage()  # frozen: one serves every stream that reports none


class _ChunkStream(StreamFold):
    """chat.completion.chunk events up to `data: [DONE]`; the last chunk(s) carry finish and usage."""

    __slots__ = ("finish", "usage")
    missing = "no [DONE]"

    def __init__(self, provider: str, api_key: str) -> None:
        super().__init__(provider, api_key)
        self.usage, self.finish = _NO_USAGE, "other"

    def feed(self, event: ServerSentEvent) -> str:
        if event.data.strip() == "[DONE]":
            self.stopped = True
            return ""
        chunk = event_json(self.provider, event)
        if chunk.get("error"):
            raise error_from_payload(self.provider, chunk["error"], self.api_key)
        text, finish, usage = _chunk(chunk)
        self.finish = finish or self.finish
        self.usage = usage or self.usage
        return text

    def end(self) -> StreamEnd | None:
        if not self.stopped:
            return None
        return StreamEnd(usage=self.usage, finish_reason=_FINISH.get(self.finish, "other"))


class OpenAICompatAdapter(HttpAdapter):
    """POST {base}/chat/completions with `Authorization: Bearer <key>`; GET {base}/models to verify."""

    models_path = "/models"
    stream_fold = _ChunkStream

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        *,
        stream_idle_timeout: float,
        dialect: Dialect | None = None,
    ) -> None:
        super().__init__(name, client, stream_idle_timeout=stream_idle_timeout)
        self._dialect = dialect or DIALECTS.get(name, Dialect())

    def _call_request(self, call: ProviderCall, api_key: str, *, stream: bool) -> httpx.Request:
        return self._request("POST", "/chat/completions", api_key, json=self._body(call, stream=stream))

    def _headers(self, key: str, *, has_body: bool) -> dict[str, str]:
        return {"authorization": f"Bearer {key}", "accept": "application/json"}

    def _completion(self, body: JSON) -> Completion:
        choice = body["choices"][0]
        message = choice["message"]
        text, refusal = message.get("content"), message.get("refusal")
        finish = _FINISH.get(choice.get("finish_reason") or "", "other")
        if not text and refusal:  # the model declined: its refusal is the answer
            text, finish = refusal, "content_filter"
        return Completion(text=str(text or ""), usage=_usage(body.get("usage") or {}), finish_reason=finish)

    def _body(self, call: ProviderCall, *, stream: bool) -> JSON:
        params, dialect = call.params, self._dialect
        body: JSON = {"model": call.provider_model, "messages": [_message(m) for m in call.messages]}
        optional: dict[str, Any] = {
            "temperature": params.temperature,
            "top_p": params.top_p,
            dialect.max_tokens_field: params.max_output_tokens,
            "stop": list(params.stop) or None,
        }
        if dialect.seed_field:
            optional[dialect.seed_field] = params.seed
        body.update({key: value for key, value in optional.items() if value is not None})
        if stream:
            body["stream"] = True
            if dialect.stream_usage_option:
                body["stream_options"] = {"include_usage": True}
        return body


def _message(message: ChatMessage) -> JSON:
    # Text-only content goes as a plain string: every compatible provider accepts that, not all
    # accept content-part arrays (DeepSeek's text models, for one).
    if all(isinstance(part, str) for part in message.parts):
        return {"role": message.role, "content": message.text}
    return {"role": message.role, "content": [_part(part) for part in message.parts if part != ""]}


def _part(part: str | ImageInput) -> JSON:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    url = part.url or f"data:{part.media_type};base64,{base64.b64encode(part.data).decode('ascii')}"
    return {"type": "image_url", "image_url": {"url": url}}


def _usage(usage: Any) -> Usage:
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return Usage(input_tokens=int(prompt or 0), output_tokens=int(completion or 0))


def _chunk(chunk: JSON) -> tuple[str, str, Usage | None]:
    """(text, finish_reason, usage) of one chat.completion.chunk; only choice 0 counts."""
    text, finish = "", ""
    for choice in chunk.get("choices") or []:
        if choice.get("index", 0) == 0:
            text = str((choice.get("delta") or {}).get("content") or "")
            finish = str(choice.get("finish_reason") or "")
    # With include_usage the last chunk (choices == []) carries usage; Groq also puts it in x_groq.
    raw = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
    return text, finish, _usage(raw) if raw else None
