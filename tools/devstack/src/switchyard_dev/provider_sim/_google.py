"""Gemini API (generativelanguage, v1beta) wire format."""

from __future__ import annotations

import json
from typing import Any

from switchyard_dev.provider_sim._text import Generation, count_tokens, generate

DEFAULT_MODELS: tuple[str, ...] = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash")
_DISPLAY = {
    "gemini-2.5-flash": "Gemini 2.5 Flash",
    "gemini-2.5-pro": "Gemini 2.5 Pro",
    "gemini-2.0-flash": "Gemini 2.0 Flash",
}
_FINISH = {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS"}
ACTIONS = ("generateContent", "streamGenerateContent")


def _text_of(content: Any) -> str:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return ""
    return " ".join(
        str(part["text"]) for part in content["parts"] if isinstance(part, dict) and "text" in part
    )


def validate(body: Any) -> str | None:
    """None for a usable request, else the message of the API's 400 INVALID_ARGUMENT."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Unexpected token."
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified\n"
    return None


def generation(body: dict[str, Any], huge_bytes: int | None) -> Generation:
    contents = [c for c in body["contents"] if isinstance(c, dict)]
    system = body.get("systemInstruction", body.get("system_instruction"))
    prompt_tokens = count_tokens(_text_of(system)) + sum(count_tokens(_text_of(c)) for c in contents)
    last_user = next((c for c in reversed(contents) if c.get("role", "user") == "user"), None)
    prompt = _text_of(last_user) if last_user is not None else ""
    config = body.get("generationConfig", body.get("generation_config")) or {}
    max_tokens = config.get("maxOutputTokens", config.get("max_output_tokens"))
    stops = config.get("stopSequences", config.get("stop_sequences")) or ()
    return generate(
        prompt,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        stop=[s for s in stops if isinstance(s, str)],
        huge_bytes=huge_bytes,
    )


def _usage(prompt_tokens: int, candidates_tokens: int) -> dict[str, Any]:
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": candidates_tokens,
        "totalTokenCount": prompt_tokens + candidates_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
    }


def response(model: str, gen: Generation, *, id_: str) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": gen.text}], "role": "model"},
                "finishReason": _FINISH[gen.finish],
                "index": 0,
            }
        ],
        "usageMetadata": _usage(gen.prompt_tokens, gen.completion_tokens),
        "modelVersion": model,
        "responseId": id_,
    }


def stream_chunks(model: str, gen: Generation, *, id_: str) -> list[bytes]:
    """One GenerateContentResponse per delta, JSON-encoded; finishReason on the last one.

    Every chunk carries usageMetadata with the running candidate-token count, as Gemini does; the
    last chunk's counts are the totals.
    """
    deltas = gen.deltas or ("",)
    tokens_so_far = 0
    chunks: list[bytes] = []
    for i, delta in enumerate(deltas):
        last = i == len(deltas) - 1
        tokens_so_far = gen.completion_tokens if last else min(tokens_so_far + 1, gen.completion_tokens)
        candidate: dict[str, Any] = {"content": {"parts": [{"text": delta}], "role": "model"}}
        if last:
            candidate["finishReason"] = _FINISH[gen.finish]
        candidate["index"] = 0
        chunk = {
            "candidates": [candidate],
            "usageMetadata": _usage(gen.prompt_tokens, tokens_so_far),
            "modelVersion": model,
            "responseId": id_,
        }
        chunks.append(json.dumps(chunk, separators=(",", ":")).encode())
    return chunks


def sse_frames(chunks: list[bytes]) -> list[bytes]:
    """`?alt=sse`: each chunk a `data:` event."""
    return [b"data: " + chunk + b"\r\n\r\n" for chunk in chunks]


def json_array_frames(chunks: list[bytes]) -> list[bytes]:
    """Without `alt=sse` the API streams one JSON array, an element at a time."""
    frames = [(b"[" if i == 0 else b",\r\n") + chunk for i, chunk in enumerate(chunks)]
    frames.append(b"]")
    return frames


def model_entry(model_id: str) -> dict[str, Any]:
    return {
        "name": f"models/{model_id}",
        "version": "001",
        "displayName": _DISPLAY.get(model_id, model_id),
        "description": f"{_DISPLAY.get(model_id, model_id)} (Switchyard provider simulator)",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": model_id.startswith("gemini-2.5"),
    }


def models_list(ids: tuple[str, ...]) -> dict[str, Any]:
    return {"models": [model_entry(model_id) for model_id in ids]}
