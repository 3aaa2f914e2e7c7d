"""Google's Gemini API (generativelanguage) wire format."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

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

__all__ = ["API_VERSION", "GoogleAdapter"]

# The path version the official google-genai SDK (3.x) uses against the Gemini API by default.
API_VERSION = "v1"

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **{
        reason: "content_filter"
        for reason in (
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
            "IMAGE_PROHIBITED_CONTENT",
            "IMAGE_RECITATION",
            "MODEL_ARMOR",
        )
    },
}
_ROLES = {"user": "user", "assistant": "model"}
_SSE = {"alt": "sse"}  # streamGenerateContent sends JSON arrays without it

_NO_USAGE = Usage()  # frozen: one serves every stream that reports none


class _ContentStream(StreamFold):
    """GenerateContentResponse chunks. The stream has no terminal event: the last chunk carries the
    finish reason, so a stream without one was cut short."""

    __slots__ = ("finish", "usage")
    missing = "no finish reason"

    def __init__(self, provider: str, api_key: str) -> None:
        super().__init__(provider, api_key)
        self.usage, self.finish = _NO_USAGE, ""

    def feed(self, event: ServerSentEvent) -> str:
        chunk = event_json(self.provider, event)
        if chunk.get("error"):
            raise error_from_payload(self.provider, chunk["error"], self.api_key)
        candidates = chunk.get("candidates") or [{}]  # a chunk may carry only usage
        text, finish = _candidate(candidates[0])
        self.finish = finish or ("SAFETY" if _blocked(chunk) else self.finish)
        self.usage = _usage(chunk) if chunk.get("usageMetadata") else self.usage
        return text

    def end(self) -> StreamEnd | None:
        if not self.finish:
            return None
        return StreamEnd(usage=self.usage, finish_reason=_FINISH.get(self.finish, "other"))


class GoogleAdapter(HttpAdapter):
    """POST {base}/v1/models/{model}:generateContent (or :streamGenerateContent?alt=sse).

    The key travels only in `x-goog-api-key`, as the google-genai SDK sends it: a `?key=` URL
    would end up in access logs and in the text of URL-quoting errors.
    """

    stream_fold = _ContentStream

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        stream_idle_timeout: float,
        api_version: str = API_VERSION,
        name: str = "google",
    ) -> None:
        super().__init__(name, client, stream_idle_timeout=stream_idle_timeout)
        self._version = api_version
        self.models_path = f"/{api_version}/models"

    def _call_request(self, call: ProviderCall, api_key: str, *, stream: bool) -> httpx.Request:
        model = call.provider_model.removeprefix("models/")
        path = f"/{self._version}/models/{quote(model, safe='')}"
        action, params = ("streamGenerateContent", _SSE) if stream else ("generateContent", None)
        return self._request("POST", f"{path}:{action}", api_key, json=_body(call), params=params)

    def _headers(self, key: str, *, has_body: bool) -> dict[str, str]:
        return {"x-goog-api-key": key, "accept": "application/json"}

    def _completion(self, body: JSON) -> Completion:
        # A whole response always has a candidate, unless the prompt itself was blocked.
        text, finish = ("", "SAFETY") if _blocked(body) else _candidate(body["candidates"][0])
        return Completion(text=text, usage=_usage(body), finish_reason=_FINISH.get(finish, "other"))


def _body(call: ProviderCall) -> JSON:
    params = call.params
    body: JSON = {"contents": [_content(m) for m in call.messages if m.role != "system"]}
    if system := [{"text": m.text} for m in call.messages if m.role == "system" and m.text]:
        body["systemInstruction"] = {"parts": system}
    config = {
        "temperature": params.temperature,
        "topP": params.top_p,
        "maxOutputTokens": params.max_output_tokens,
        "stopSequences": list(params.stop) or None,
        "seed": params.seed,
    }
    if config := {key: value for key, value in config.items() if value is not None}:
        body["generationConfig"] = config
    return body


def _content(message: ChatMessage) -> JSON:
    return {"role": _ROLES[message.role], "parts": [_part(part) for part in message.parts if part != ""]}


def _part(part: str | ImageInput) -> JSON:
    if isinstance(part, str):
        return {"text": part}
    if part.url:
        file_data = {"fileUri": part.url, **({"mimeType": part.media_type} if part.media_type else {})}
        return {"fileData": file_data}
    return {"inlineData": {"mimeType": part.media_type, "data": base64.b64encode(part.data).decode("ascii")}}


def _candidate(candidate: JSON) -> tuple[str, str]:
    """(text, finishReason); thought parts (from thinking models) are not the answer."""
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(str(part["text"]) for part in parts if "text" in part and not part.get("thought"))
    return text, str(candidate.get("finishReason") or "")


def _blocked(body: JSON) -> bool:
    """A prompt blocked before generation comes back with promptFeedback.blockReason, no candidates."""
    return bool((body.get("promptFeedback") or {}).get("blockReason"))


def _usage(body: JSON) -> Usage:
    meta: Any = body.get("usageMetadata") or {}
    # Thinking tokens are billed as output but counted apart from candidatesTokenCount.
    output = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    return Usage(input_tokens=int(meta.get("promptTokenCount") or 0), output_tokens=output)
