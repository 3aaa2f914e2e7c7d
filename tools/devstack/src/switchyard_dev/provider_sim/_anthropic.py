"""Anthropic Messages API wire format."""

from __future__ import annotations

import json
from typing import Any

from switchyard_dev.provider_sim._text import Generation, count_tokens, generate

DEFAULT_MODELS: tuple[str, ...] = ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-7")
_DISPLAY = {
    "claude-sonnet-4-6": ("Claude Sonnet 4.6", "2026-02-17T00:00:00Z"),
    "claude-haiku-4-5": ("Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
    "claude-opus-4-7": ("Claude Opus 4.7", "2026-04-16T00:00:00Z"),
}
_STOP_REASON = {"stop": "end_turn", "stop_sequence": "stop_sequence", "length": "max_tokens"}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def validate(body: Any) -> str | None:
    """None for a usable request, else the message of the API's 400 invalid_request_error."""
    if not isinstance(body, dict):
        return "Invalid JSON in request body"
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    if not isinstance(body["messages"], list) or not body["messages"]:
        return "messages: at least one message is required"
    return None


def generation(body: dict[str, Any], huge_bytes: int | None) -> Generation:
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    prompt_tokens = count_tokens(_text_of(body.get("system"))) + sum(
        count_tokens(_text_of(m.get("content"))) for m in messages
    )
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    prompt = _text_of(last_user.get("content")) if last_user is not None else ""
    stops = [s for s in body.get("stop_sequences") or () if isinstance(s, str)]
    return generate(
        prompt, prompt_tokens=prompt_tokens, max_tokens=body["max_tokens"], stop=stops, huge_bytes=huge_bytes
    )


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def message(model: str, gen: Generation, *, id_: str) -> dict[str, Any]:
    return {
        "id": id_,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": gen.text}],
        "stop_reason": _STOP_REASON[gen.finish],
        "stop_sequence": gen.stop_sequence,
        "usage": _usage(gen.prompt_tokens, gen.completion_tokens),
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    return (
        b"event: " + name.encode() + b"\ndata: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
    )


def stream_frames(model: str, gen: Generation, *, id_: str) -> list[bytes]:
    """message_start, content_block_start, ping, text deltas, content_block_stop, message_delta, then
    message_stop."""
    start: dict[str, Any] = {
        "id": id_,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(gen.prompt_tokens, min(1, gen.completion_tokens)),
    }
    frames = [
        _event("message_start", {"type": "message_start", "message": start}),
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _event("ping", {"type": "ping"}),
    ]
    frames.extend(
        _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": delta}},
        )
        for delta in gen.deltas
    )
    frames.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    frames.append(
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _STOP_REASON[gen.finish], "stop_sequence": gen.stop_sequence},
                "usage": {"output_tokens": gen.completion_tokens},
            },
        )
    )
    frames.append(_event("message_stop", {"type": "message_stop"}))
    return frames


def model_entry(model_id: str) -> dict[str, Any]:
    display, created = _DISPLAY.get(model_id, (model_id, "2025-01-01T00:00:00Z"))
    return {
        "type": "model",
        "id": model_id,
        "display_name": display,
        "created_at": created,
        "lifecycle": "active",
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
    }


def models_list(ids: tuple[str, ...]) -> dict[str, Any]:
    return {
        "data": [model_entry(model_id) for model_id in ids],
        "has_more": False,
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
    }
