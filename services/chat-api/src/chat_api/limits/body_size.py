"""Requests whose body is over `max_request_body_bytes` are answered 413 `payload-too-large`.

A declared Content-Length is checked before the app runs (the server never delivers more than it
declares); a chunked body is read here first and refused as soon as it passes the limit.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodySizeLimit"]

SLUG = "payload-too-large"
_OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")


def _answer(path: str, limit: int) -> tuple[bytes, bytes]:
    detail = f"the request body is larger than {limit} bytes"
    if path in _OPENAI_PATHS:
        error = {
            "message": detail,
            "type": "invalid_request_error",
            "param": None,
            "code": "payload_too_large",
        }
        return json.dumps({"error": error}).encode(), b"application/json"
    problem = {
        "type": f"https://switchyard.dev/problems/{SLUG}",
        "title": "Request body too large",
        "status": 413,
        "detail": detail,
    }
    return json.dumps(problem).encode(), b"application/problem+json"


class BodySizeLimit:
    """Pure ASGI middleware: a request with a small declared body passes through untouched."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, send)
        elif chunked:
            await self._counted(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Read the whole body first (at most the limit is kept), then hand it to the app in one piece.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees the disconnect
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        pending: list[Message] = [message]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body, media_type = _answer(scope["path"], self.max_bytes)
        headers = [(b"content-type", media_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None if absent or malformed) and whether the body is chunked."""
    declared, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = None
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked
