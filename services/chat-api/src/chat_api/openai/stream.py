"""OpenAI's `chat.completion` object and `chat.completion.chunk` stream, built from a routed chat."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from chat_api.chat.answers import Delta, Failed, Finished
from chat_api.chat.pipeline import ChatStream
from chat_api.openai.errors import error_body

__all__ = ["Identity", "completion_body", "completion_chunks"]


class Identity:
    """The id and creation time one completion and all its chunks share."""

    def __init__(self) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())


def _usage(finished: Finished | None) -> dict[str, int]:
    prompt = finished.input_tokens if finished else 0
    completion = finished.output_tokens if finished else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_body(stream: ChatStream, identity: Identity) -> dict[str, object]:
    """The non-streamed answer."""
    finished = stream.finished
    return {
        "id": identity.id,
        "object": "chat.completion",
        "created": identity.created,
        "model": stream.route.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": stream.text, "refusal": None},
                "finish_reason": finished.reason if finished else "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(finished),
    }


def _data(payload: object) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _chunk(stream: ChatStream, identity: Identity, delta: dict[str, str], finish_reason: str | None) -> bytes:
    return _data(
        {
            "id": identity.id,
            "object": "chat.completion.chunk",
            "created": identity.created,
            "model": stream.route.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
    )


async def completion_chunks(
    stream: ChatStream, identity: Identity, *, include_usage: bool
) -> AsyncIterator[bytes]:
    """role chunk, content chunks, the finish chunk, the usage chunk if asked, `[DONE]`.

    A failure mid-answer ends the stream with an OpenAI error object and no `[DONE]`, which the
    official SDKs raise as an APIError.
    """
    try:
        yield _chunk(stream, identity, {"role": "assistant", "content": ""}, None)
        async for item in stream.items():
            if isinstance(item, Delta):
                yield _chunk(stream, identity, {"content": item.text}, None)
            elif isinstance(item, Finished):
                yield _chunk(stream, identity, {}, item.reason)
                if include_usage:
                    yield _data(
                        {
                            "id": identity.id,
                            "object": "chat.completion.chunk",
                            "created": identity.created,
                            "model": stream.route.model,
                            "choices": [],
                            "usage": _usage(item),
                        }
                    )
                yield b"data: [DONE]\n\n"
            elif isinstance(item, Failed):
                yield _data(error_body(item.problem))
    finally:
        await stream.close()
