"""Google's Gemini API (generativelanguage) wire format."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from router.providers.base import (
    ChatMessage,
    Completion,
    FinishReason,
    ImageInput,
    ProviderCall,
    ProviderUnavailable,
    StreamEnd,
    TextDelta,
    Usage,
)
from router.providers.http import (
    JSON,
    build_request,
    check_key,
    error_from_payload,
    event_json,
    event_stream,
    raise_for_status,
    read_json,
    send,
    shape_guard,
)

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


class GoogleAdapter:
    """POST {base}/v1/models/{model}:generateContent (or :streamGenerateContent?alt=sse).

    The key travels only in `x-goog-api-key`, as the google-genai SDK sends it: a `?key=` URL
    would end up in access logs and in the text of URL-quoting errors.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        stream_idle_timeout: float,
        api_version: str = API_VERSION,
        name: str = "google",
    ) -> None:
        self.name = name
        self._client = client
        self._idle = stream_idle_timeout
        self._version = api_version

    async def complete(self, call: ProviderCall, api_key: str) -> Completion:
        path = f"{self._model_path(call)}:generateContent"
        request = self._request("POST", path, api_key, json=_body(call))
        response = await send(self._client, request, provider=self.name, stream=False)
        raise_for_status(self.name, response, api_key)
        body = read_json(self.name, response)
        with shape_guard(self.name):
            # A whole response always has a candidate, unless the prompt itself was blocked.
            text, finish = ("", "SAFETY") if _blocked(body) else _candidate(body["candidates"][0])
            usage = _usage(body)
        return Completion(text=text, usage=usage, finish_reason=_FINISH.get(finish, "other"))

    async def stream(self, call: ProviderCall, api_key: str) -> AsyncIterator[TextDelta | StreamEnd]:
        path = f"{self._model_path(call)}:streamGenerateContent"
        request = self._request("POST", path, api_key, json=_body(call), params={"alt": "sse"})
        stream = event_stream(self._client, request, provider=self.name, api_key=api_key, idle=self._idle)
        usage, finish = Usage(), ""
        async with stream as events:
            async for event in events:
                chunk = event_json(self.name, event)
                if chunk.get("error"):
                    raise error_from_payload(self.name, chunk["error"], api_key)
                with shape_guard(self.name):
                    candidates = chunk.get("candidates") or [{}]  # a chunk may carry only usage
                    text, chunk_finish = _candidate(candidates[0])
                    finish = chunk_finish or ("SAFETY" if _blocked(chunk) else finish)
                    usage = _usage(chunk) if chunk.get("usageMetadata") else usage
                if text:
                    yield TextDelta(text)
        # The stream has no terminal event: the last chunk carries the finish reason.
        if not finish:
            raise ProviderUnavailable(self.name, f"{self.name}: stream truncated (no finish reason)")
        yield StreamEnd(usage=usage, finish_reason=_FINISH.get(finish, "other"))

    async def verify(self, api_key: str) -> None:
        request = self._request("GET", f"/{self._version}/models", api_key)
        response = await send(self._client, request, provider=self.name, stream=False)
        raise_for_status(self.name, response, api_key)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _model_path(self, call: ProviderCall) -> str:
        model = call.provider_model.removeprefix("models/")
        return f"/{self._version}/models/{quote(model, safe='')}"

    def _request(
        self,
        method: str,
        path: str,
        api_key: str,
        *,
        json: JSON | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Request:
        headers = {"x-goog-api-key": check_key(self.name, api_key), "accept": "application/json"}
        return build_request(self._client, method, path, json=json, params=params, headers=headers)


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
