"""OpenAI Chat Completions wire format (also spoken by Mistral, Groq, DeepSeek, xAI, Together, OpenRouter)."""

from __future__ import annotations

import json
from typing import Any

from switchyard_dev.provider_sim._text import Generation, count_tokens, generate

DEFAULT_MODELS: dict[str, tuple[str, ...]] = {
    "openai": ("gpt-4o-mini", "gpt-4.1", "gpt-5.4-mini"),
    "mistral": ("mistral-small-latest", "mistral-large-latest"),
    "groq": ("llama-3.1-8b-instant", "llama-3.3-70b-versatile"),
    "deepseek": ("deepseek-chat", "deepseek-reasoner"),
    "xai": ("grok-3-mini", "grok-4"),
    "together": ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "Qwen/Qwen2.5-7B-Instruct-Turbo"),
    "openrouter": ("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5"),
}
_OWNED_BY = {
    "openai": "system",
    "mistral": "mistralai",
    "groq": "Meta",
    "deepseek": "deepseek",
    "xai": "xai",
    "together": "together",
    "openrouter": "openrouter",
}
MODEL_CREATED = 1_715_367_049
_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length"}
_DONE = b"data: [DONE]\n\n"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def validate(body: Any) -> tuple[str, str | None, str | None] | None:
    """None for a usable request, else (message, param, code) of the provider's 400."""
    if not isinstance(body, dict):
        return (
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
            "valid JSON.)",
            None,
            None,
        )
    if not isinstance(body.get("model"), str):
        return ("you must provide a model parameter", None, None)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return ("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    return None


def generation(body: dict[str, Any], huge_bytes: int | None) -> Generation:
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    prompt_tokens = sum(count_tokens(_text_of(m.get("content"))) for m in messages)
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    prompt = _text_of(last_user.get("content")) if last_user is not None else ""
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or () if isinstance(s, str)]
    return generate(
        prompt,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        stop=stops,
        huge_bytes=huge_bytes,
    )


def _usage(provider: str, gen: Generation) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.completion_tokens,
        "total_tokens": gen.total_tokens,
    }
    if provider == "openai":
        usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
        usage["completion_tokens_details"] = {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    return usage


def _extras(provider: str) -> dict[str, Any]:
    if provider == "openai":
        return {"service_tier": "default", "system_fingerprint": "fp_switchyard_sim"}
    return {"system_fingerprint": "fp_switchyard_sim"}


def completion(provider: str, model: str, gen: Generation, *, id_: str, created: int) -> dict[str, Any]:
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": gen.text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": _FINISH[gen.finish],
            }
        ],
        "usage": _usage(provider, gen),
        **_extras(provider),
    }


# Mistral has no stream_options: its last chunk carries usage beside the finish reason.
USAGE_ON_FINISH_CHUNK = frozenset({"mistral"})


def _frame(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def stream_frames(
    provider: str, model: str, gen: Generation, *, id_: str, created: int, include_usage: bool
) -> list[bytes]:
    """role delta, one content delta per token, the finish_reason chunk, [usage chunk], [DONE]."""
    base: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        **_extras(provider),
    }
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _frame({**base, "choices": [choice]})

    frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
    frames.extend(chunk({"content": delta}) for delta in gen.deltas)
    if provider in USAGE_ON_FINISH_CHUNK:
        choice = {"index": 0, "delta": {"content": ""}, "finish_reason": _FINISH[gen.finish]}
        frames.append(_frame({**base, "choices": [choice], "usage": _usage(provider, gen)}))
    else:
        frames.append(chunk({}, _FINISH[gen.finish]))
    if include_usage:
        frames.append(_frame({**base, "choices": [], "usage": _usage(provider, gen)}))
    frames.append(_DONE)
    return frames


def model_entry(provider: str, model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": MODEL_CREATED, "owned_by": _OWNED_BY[provider]}


def models_list(provider: str, ids: tuple[str, ...]) -> dict[str, Any]:
    return {"object": "list", "data": [model_entry(provider, model_id) for model_id in ids]}
