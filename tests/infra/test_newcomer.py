"""A newcomer's first hour: `make dev` exactly as the README says (defaults only, a fresh `.dev/`), the
whole BYOK story through the HTTP API and the official `openai` SDK, Ctrl-C, `make dev` again.

It runs in a copy of the checkout (the developer's own `.dev/` is never touched) on the default
ports: a default port already taken fails the test, naming the port, because that is what a
newcomer would meet.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.make_dev import (
    MakeDev,
    Proc,
    bindable,
    copy_checkout,
    default_ports,
    descendants,
    listening,
    processes_mentioning,
)

pytestmark = pytest.mark.slow

UP_SECONDS = 180  # first start: protos, PKI, RSA key, initdb, migrations
STOP_SECONDS = 60
USAGE_SECONDS = 20
BASE = f"http://127.0.0.1:{default_ports()['CHAT_API_PORT']}"
PASSWORD = "a newcomer's passphrase"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    taken = {setting: port for setting, port in default_ports().items() if not bindable(port)}
    if taken:
        pytest.fail(
            "`make dev` runs on its default ports here, and these are taken: "
            + ", ".join(f"{port} ({setting})" for setting, port in sorted(taken.items()))
        )
    copy = copy_checkout(tmp_path / "switchyard")
    stale = subprocess.run(["make", "-q", ".venv/.installed"], cwd=copy, capture_output=True, timeout=30)
    if stale.returncode != 0:
        # make would reinstall into the real .venv from the copy's paths: never let it.
        pytest.fail("the venv is older than requirements/ or a pyproject.toml: run `make install` first")
    return copy


@pytest.fixture
def make_dev(checkout: Path) -> Iterator[MakeDev]:
    dev = MakeDev(checkout)
    seen: list[Proc] = []
    yield dev
    if dev.popen is not None:
        seen.extend(descendants(dev.popen.pid))
    dev.kill_leftovers(seen + processes_mentioning(str(checkout / ".dev")))


def start(dev: MakeDev) -> list[Proc]:
    """`make dev`, until it says the stack is up; every process of the stack, then."""
    dev.start()
    output = dev.wait_for_output("state in", within=UP_SECONDS)
    # The copy's own .dev (make passes SWITCHYARD_DEV_DIR=$(CURDIR)/.dev), never the developer's.
    dev_dir = dev.checkout / ".dev"
    assert f"state in {dev_dir}" in output, output
    assert (dev_dir / "pki" / "ca.pem").is_file()
    assert processes_mentioning(str(dev_dir)), "nats-server and PostgreSQL keep their data in the copy's .dev"
    assert dev.popen is not None
    return descendants(dev.popen.pid)


def ctrl_c(dev: MakeDev, stack: list[Proc]) -> None:
    """Ctrl-C, then: make has exited, no process of the stack is left, every port is free."""
    assert dev.popen is not None
    make_group = dev.popen.pid
    dev.interrupt(within=STOP_SECONDS)
    assert "\nstopped\n" in dev.output, dev.output
    assert "Traceback" not in dev.output, dev.output
    left = [proc for proc in stack if proc.alive()]
    assert left == [], f"still running after Ctrl-C: {left}"
    in_group = [proc for proc in descendants(1) if proc.pgid == make_group and proc.alive()]
    assert in_group == [], f"make's process group lives on: {in_group}"
    mentioning = processes_mentioning(str(dev.checkout / ".dev"))
    assert mentioning == [], f"processes still use the copy's .dev: {mentioning}"
    still = {setting: port for setting, port in default_ports().items() if listening(port)}
    assert still == {}, f"still listening after Ctrl-C: {still}"


def register(http: httpx.Client, email: str) -> str:
    response = http.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def login(http: httpx.Client, email: str) -> str:
    response = http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def sdk_chat(client: openai.OpenAI, model: str, text: str, *, stream: bool) -> tuple[Mapping[str, str], str]:
    """One chat through the official SDK: the response headers and the answer's text."""
    messages: list[Any] = [{"role": "user", "content": text}]
    if stream:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, stream=True)
        answer = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
        return raw.headers, answer
    raw_reply = client.chat.completions.with_raw_response.create(model=model, messages=messages)
    return raw_reply.headers, raw_reply.parse().choices[0].message.content or ""


def sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in filter(str.strip, body.split("\n\n")):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def usage_total(http: httpx.Client, token: str) -> dict[str, Any]:
    response = http.get(
        "/v1/usage", params={"group_by": "key_source"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_newcomer_runs_the_whole_byok_story_on_make_dev(make_dev: MakeDev) -> None:
    stack = start(make_dev)
    email = f"newcomer-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=BASE, timeout=30) as http:
        token = register(http, email)
        auth = {"Authorization": f"Bearer {token}"}
        client = openai.OpenAI(base_url=f"{BASE}/v1", api_key=token, max_retries=0, timeout=30)

        # The demo serves one provider per wire format; the picker and /v1/models say so.
        models = http.get("/v1/models", headers=auth).json()["data"]
        demo = [m for m in models if m.get("demo")]
        assert {m["owned_by"] for m in demo} == {"openai", "anthropic", "google"}
        assert all(m["platform_access"] for m in demo)
        first = {
            provider: next(m["id"] for m in demo if m["owned_by"] == provider)
            for provider in ("openai", "anthropic", "google")
        }

        # Ten chats in a row on platform (demo) access, streamed and not: every one answers.
        for number in range(10):
            model = list(first.values())[number % 3]
            headers, answer = sdk_chat(client, model, f"question {number}", stream=number % 2 == 1)
            assert answer == f"echo: question {number}", (number, model)
            assert headers["x-switchyard-key-source"] == "platform"
            assert headers["x-switchyard-demo"] == "true"
            assert headers["x-switchyard-model"] == model

        # A key of one's own: verified (by the demo), then it answers.
        api_key = "sk-proj-" + secrets.token_hex(24)
        added = http.post(
            "/v1/keys", json={"provider": "openai", "api_key": api_key, "verify": True}, headers=auth
        )
        assert added.status_code == 201, added.text
        key_id = added.json()["id"]
        assert api_key not in added.text
        checked = http.post(f"/v1/keys/{key_id}/verify", headers=auth)
        assert checked.status_code == 200, checked.text
        assert checked.json()["verdict"] == "valid"
        assert "demo provider" in checked.json()["message"]
        headers, answer = sdk_chat(client, first["openai"], "on my own key", stream=False)
        assert (headers["x-switchyard-key-source"], answer) == ("user", "echo: on my own key")

        # A conversation, through the endpoints the web app's JavaScript uses.
        created = http.post("/v1/conversations", json={"title": "my first chat"}, headers=auth)
        assert created.status_code == 201, created.text
        conversation = created.json()["id"]
        turn = http.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": "hello web app", "model": first["openai"]},
            headers={**auth, "Accept": "text/event-stream", "Idempotency-Key": uuid.uuid4().hex},
        )
        assert turn.status_code == 200, turn.text
        events = sse_events(turn.text)
        name, route = events[0]
        assert (name, route["key_source"], route["demo"]) == ("route", "user", True)
        assert "".join(data["text"] for name, data in events if name == "delta") == "echo: hello web app"
        assert events[-1][0] == "done"
        listed = http.get("/v1/conversations", headers=auth).json()
        assert [c["id"] for c in listed] == [conversation]

        # Revoked: the next chat is on platform access again.
        assert http.delete(f"/v1/keys/{key_id}", headers=auth).status_code == 204
        headers, answer = sdk_chat(client, first["openai"], "after revoking", stream=True)
        assert (headers["x-switchyard-key-source"], answer) == ("platform", "echo: after revoking")
        client.close()

        usage = usage_total(http, token)
        assert usage["total"]["requests"] == 13  # ten, one on the key, the conversation's, one after
        detail = http.get(f"/v1/conversations/{conversation}", headers=auth).json()

    ctrl_c(make_dev, stack)

    # `make dev` again: the account, the conversation and the usage are still there.
    stack = start(make_dev)
    with httpx.Client(base_url=BASE, timeout=30) as http:
        token = login(http, email)
        auth = {"Authorization": f"Bearer {token}"}
        assert http.get(f"/v1/conversations/{conversation}", headers=auth).json() == detail
        again = usage_total(http, token)
        assert (again["total"], again["groups"]) == (usage["total"], usage["groups"])
        assert http.get("/v1/keys", headers=auth).json() == []
    ctrl_c(make_dev, stack)

    # The key was never printed (every service's log, the demo provider's) nor written to .dev in
    # clear: PostgreSQL's files and WAL, NATS's store, the audit file, every log. The account's email,
    # which is stored in clear, is found in those same files: the search does read them.
    assert api_key not in make_dev.output
    files = [path for path in (make_dev.checkout / ".dev").rglob("*") if path.is_file()]
    assert any(email.encode() in path.read_bytes() for path in files), "the search read no stored row"
    assert [path for path in files if api_key.encode() in path.read_bytes()] == []
