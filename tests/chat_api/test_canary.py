"""A canary key pushed through every path chat-api offers must never come back out: not from a
table, a log line, a response body or header, an SSE event, the audit log or /metrics."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterator
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


class Canary:
    """The canary key and every call that must reach the provider carrying it."""

    def __init__(self, stack: ChatApiStack) -> None:
        self.value = provider_key("openai")
        self._stack = stack

    def calls(self) -> int:
        return sum(1 for call in self._stack.sim.calls_for("openai") if call.api_key == self.value)

    async def reached(
        self, what: str, request: Awaitable[httpx.Response], status: int, *, calls: int = 1
    ) -> httpx.Response:
        """`request` answers `status` and reaches the provider `calls` times with the canary."""
        before = self.calls()
        response = await request
        assert response.status_code == status, f"{what}: {response.status_code} {response.text}"
        assert self.calls() - before == calls, f"{what}: {self.calls() - before} provider calls"
        return response


def expect(what: str, response: httpx.Response, status: int) -> httpx.Response:
    assert response.status_code == status, f"{what}: {response.status_code} {response.text}"
    return response


async def test_a_canary_key_is_found_nowhere(
    stack: ChatApiStack, keyvault: RunningKeyVault, all_logs: Everything
) -> None:
    canary, http = Canary(stack), stack.http
    user, seen = await stack.register(), Recorder()
    added = seen.add(
        await http.post(
            "/v1/keys", json={"provider": "openai", "api_key": canary.value}, headers=user.headers
        )
    )
    key_id = expect("add the key", added, 201).json()["id"]
    expect("list the keys", seen.add(await http.get("/v1/keys", headers=user.headers)), 200)
    verified = await canary.reached(
        "verify", http.post(f"/v1/keys/{key_id}/verify", headers=user.headers), 200
    )
    assert seen.add(verified).json()["verdict"] == "valid"
    plain = await canary.reached("a chat", _chat(stack, user, seen), 200)
    assert plain.headers["X-Switchyard-Key-Source"] == "user"
    streamed = await canary.reached("a streamed chat", _chat(stack, user, seen, stream=True), 200)
    assert "data: [DONE]" in streamed.text
    conversation = seen.add(await http.post("/v1/conversations", json={}, headers=user.headers))
    message = http.post(
        f"/v1/conversations/{expect('a conversation', conversation, 201).json()['id']}/messages",
        json={"content": "hi", "model": MODEL},
        headers=user.headers,
    )
    answer = seen.add(await canary.reached("a conversation message", message, 200))
    assert "event: done" in answer.text, answer.text
    assert "event: error" not in answer.text, answer.text
    stack.sim.fail_next("openai", truncate_after_events=2, echo_key=True)
    truncated = await canary.reached("a truncated stream", _chat(stack, user, seen, stream=True), 200)
    assert "data: [DONE]" not in truncated.text, truncated.text
    # Every error type, the provider echoing the key each time; 401 last: it marks the key invalid.
    for provider_status, status in ((429, 429), (500, 502), (400, 400), (401, 422)):
        stack.sim.fail_next("openai", provider_status, echo_key=True)
        await canary.reached(
            f"a chat the provider answers {provider_status}", _chat(stack, user, seen), status
        )
    stack.sim.fail_next("openai", 401, echo_key=True, endpoint="any")
    rejected = await canary.reached(
        "a rejected verify", http.post(f"/v1/keys/{key_id}/verify", headers=user.headers), 200
    )
    assert seen.add(rejected).json()["verdict"] == "rejected"
    # Bad input that carries the key: a wrong provider shape, a key too long.
    for body in (
        {"provider": "google", "api_key": canary.value},
        {"provider": "openai", "api_key": canary.value * 40},
    ):
        expect("bad input", seen.add(await http.post("/v1/keys", json=body, headers=user.headers)), 422)
    expect("revoke", seen.add(await http.delete(f"/v1/keys/{key_id}", headers=user.headers)), 204)
    expect("/metrics", seen.add(await http.get("/metrics")), 200)

    # keyvault decrypted the key for every call above, so its audit file must exist and name the key.
    assert keyvault.audit_path.exists(), f"keyvault wrote no audit file at {keyvault.audit_path}"
    audit = keyvault.audit_path.read_text()
    assert key_id in audit, "keyvault's audit log never names the key"
    places = {
        "a response": "\n".join(seen.seen),
        "a table": dump_every_table(stack.database_url),
        "a log record": "\n".join(all_logs.lines),
        "the keyvault audit log": audit,
    }
    for place, text in places.items():
        assert canary.value not in text, f"the canary key leaked into {place}"
        assert canary.value[-12:] not in text, f"a tail of the canary key leaked into {place}"
        # bytea columns print as hex
        assert canary.value.encode().hex() not in text, f"the canary key leaked into {place} (hex)"
