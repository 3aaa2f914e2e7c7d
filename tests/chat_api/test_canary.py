"""A canary key pushed through every path chat-api offers must never come back out: not from a
table, a log line, a response body or header, an SSE event, the audit log or /metrics."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import make_url

from tests.conftest import RunningKeyVault
from tests.support.chat_api import ChatApiStack, User, provider_key

MODEL = "openai/gpt-5.4-mini"


class Everything(logging.Handler):
    """Every record any logger emits, formatted with its arguments and exception."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(name)s %(message)s").format(record) + repr(record.__dict__))


@pytest.fixture
def all_logs() -> Iterator[Everything]:
    handler, root = Everything(), logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def dump_every_table(database_url: str) -> str:
    url = make_url(database_url)
    conninfo = f"host={url.host} port={url.port or 5432} user={url.username} dbname={url.database}"
    text: list[str] = []
    with psycopg.connect(conninfo) as db:
        tables = [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            rows = db.execute(f'SELECT t::text FROM "{table}" t').fetchall()  # noqa: S608 - catalog names
            text.extend(str(row[0]) for row in rows)
    return "\n".join(text)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def add(self, response: httpx.Response) -> httpx.Response:
        self.seen.append(response.text)
        self.seen.append(repr(dict(response.headers)))
        return response


async def _chat(stack: ChatApiStack, user: User, seen: Recorder, **extra: Any) -> httpx.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "canary?"}], **extra}
    return seen.add(await stack.http.post("/v1/chat/completions", json=body, headers=user.headers))


async def test_a_canary_key_is_found_nowhere(
    stack: ChatApiStack, keyvault: RunningKeyVault, all_logs: Everything
) -> None:
    canary = provider_key("openai")
    user, seen = await stack.register(), Recorder()
    added = seen.add(
        await stack.http.post(
            "/v1/keys", json={"provider": "openai", "api_key": canary}, headers=user.headers
        )
    )
    key_id = added.json()["id"]
    seen.add(await stack.http.get("/v1/keys", headers=user.headers))
    seen.add(await stack.http.post(f"/v1/keys/{key_id}/verify", headers=user.headers))
    await _chat(stack, user, seen)
    await _chat(stack, user, seen, stream=True)
    conversation = seen.add(await stack.http.post("/v1/conversations", json={}, headers=user.headers)).json()
    seen.add(
        await stack.http.post(
            f"/v1/conversations/{conversation['id']}/messages",
            json={"content": "hi", "model": MODEL},
            headers=user.headers,
        )
    )
    for status in (429, 500, 400, 401):  # every error type, the provider echoing the key each time
        stack.sim.fail_next("openai", status, echo_key=True)
        await _chat(stack, user, seen)
    stack.sim.fail_next("openai", 401, echo_key=True, endpoint="any")
    seen.add(await stack.http.post(f"/v1/keys/{key_id}/verify", headers=user.headers))
    stack.sim.fail_next("openai", truncate_after_events=2)
    await _chat(stack, user, seen, stream=True)
    # Bad input that carries the key: a wrong provider shape, a key too long.
    seen.add(
        await stack.http.post(
            "/v1/keys", json={"provider": "google", "api_key": canary}, headers=user.headers
        )
    )
    seen.add(
        await stack.http.post(
            "/v1/keys", json={"provider": "openai", "api_key": canary * 40}, headers=user.headers
        )
    )
    seen.add(await stack.http.delete(f"/v1/keys/{key_id}", headers=user.headers))
    seen.add(await stack.http.get("/metrics"))

    assert any(call.api_key == canary for call in stack.sim.calls_for("openai")), "the canary was never used"
    places = {
        "a response": "\n".join(seen.seen),
        "a table": dump_every_table(stack.database_url),
        "a log record": "\n".join(all_logs.lines),
        "the keyvault audit log": keyvault.audit_path.read_text() if keyvault.audit_path.exists() else "",
    }
    for place, text in places.items():
        assert canary not in text, f"the canary key leaked into {place}"
        assert canary[-12:] not in text, f"a tail of the canary key leaked into {place}"
        # bytea columns print as hex
        assert canary.encode().hex() not in text, f"the canary key leaked into {place} (hex)"
