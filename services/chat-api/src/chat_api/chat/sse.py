"""Server-sent events of a conversation turn: route, delta…, usage | error, done."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping

from chat_api.chat.answers import DEMO_HEADER, Delta, Failed, Finished
from chat_api.chat.pipeline import ChatStream
from chat_api.chat.turns import Turn, store_reply
from chat_api.core.problems import Problem

__all__ = ["SSE_HEADERS", "event", "problem_data", "route_headers", "turn_events"]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(name: str, data: Mapping[str, object]) -> bytes:
    """One SSE event with a JSON payload."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def problem_data(problem: Problem) -> dict[str, object]:
    return {
        "type": problem.type_uri,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }


def route_headers(replay: bytes) -> dict[str, str]:
    """The X-Switchyard-* headers of a stored stream, read back from its `route` event."""
    for block in replay.split(b"\n\n"):
        lines = block.decode().splitlines()
        if lines and lines[0] == "event: route":
            route = json.loads(lines[1].removeprefix("data: "))
            headers = {
                "X-Switchyard-Provider": route["provider"],
                "X-Switchyard-Model": route["model"],
                "X-Switchyard-Key-Source": route["key_source"],
            }
            if route.get("demo"):
                headers[DEMO_HEADER] = "true"
            return headers
    return {}


async def turn_events(stream: ChatStream, turn: Turn) -> AsyncIterator[bytes]:
    """The turn's events; the answer is stored however the stream ends, a client disconnect included."""
    route = stream.route
    sent: list[bytes] = []
    done = event("done", {"message_id": str(turn.assistant_message_id)})
    try:
        sent.append(
            event(
                "route",
                {
                    "provider": route.provider,
                    "model": route.model,
                    "key_source": route.key_source,
                    "fell_back": route.fell_back,
                    "auto_reason": route.auto_reason,
                    "demo": route.demo,
                },
            )
        )
        yield sent[-1]
        async for item in stream.items():
            if isinstance(item, Delta):
                sent.append(event("delta", {"text": item.text}))
            elif isinstance(item, Finished):
                usage = {
                    "input_tokens": item.input_tokens,
                    "output_tokens": item.output_tokens,
                    "cost_usd": float(item.cost_usd),
                }
                sent.append(event("usage", usage))
            elif isinstance(item, Failed):
                sent.append(event("error", problem_data(item.problem)))
            yield sent[-1]
    finally:
        # Only a completed answer is kept for replay; anything else lets a retry run again.
        replay = b"".join([*sent, done]) if stream.finished is not None else None
        await stream.close(
            extra=lambda db_session: store_reply(
                db_session=db_session, turn=turn, stream=stream, replay=replay
            )
        )
    yield done
