"""Helpers for the chat tests: conversations, SSE parsing, direct reads of chat-api's tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.chat_api import ChatApiStack, User

OPENAI_MODEL = "openai/gpt-5.4-mini"
ANTHROPIC_MODEL = "anthropic/claude-sonnet-5"
MISTRAL_MODEL = "mistral/mistral-large-latest"
PROBLEMS = "https://switchyard.dev/problems/"


@dataclass
class Sse:
    response: httpx.Response
    events: list[tuple[str, dict[str, Any]]]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def first(self, name: str) -> dict[str, Any]:
        return next(data for event, data in self.events if event == name)

    @property
    def text(self) -> str:
        return "".join(data["text"] for name, data in self.events if name == "delta")


def parse_sse(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def new_conversation(stack: ChatApiStack, user: User, title: str | None = None) -> str:
    response = await stack.http.post("/v1/conversations", json={"title": title}, headers=user.headers)
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


async def send(
    stack: ChatApiStack,
    user: User,
    conversation_id: str,
    content: str,
    model: str = ANTHROPIC_MODEL,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Sse:
    response = await stack.http.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"content": content, "model": model, **fields},
        headers={**user.headers, **(headers or {})},
    )
    events = (
        parse_sse(response.text) if response.headers["content-type"].startswith("text/event-stream") else []
    )
    return Sse(response=response, events=events)


async def completion(
    stack: ChatApiStack, user: User, model: str, text: str = "hello", **fields: Any
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **fields}
    return await stack.http.post("/v1/chat/completions", json=body, headers=user.headers)
