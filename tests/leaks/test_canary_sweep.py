"""Leaks, across processes: canary provider keys pushed through every path of the real stack are
afterwards found nowhere they must not be.

The stack is keyvault, router and chat-api as `python -m` processes in front of nats-server,
PostgreSQL and the provider simulator. Paths: add with `verify=true` (bad input carrying the key, a
provider rejecting it, a provider unreachable, then accepted), POST /verify (valid, and rejected
with the key echoed), chat successes (conversation SSE and /v1/chat/completions, streamed and not),
every error the simulator produces with the key echoed in the provider's error body (429, 500, 503,
400, an enormous body, not JSON, a truncated stream, 403 and 401 marking the key invalid), provider
timeouts, a crash (router and keyvault SIGKILLed while a stream using the key is open, then
restarted), replacement of a key and revocation (DELETE).

Places: every table of chat-api's database (before and after revocation), every file the stack
wrote (the services' logs, keyvault's audit file, nats-server's log and its JetStream store),
chat-api's /metrics (router and keyvault serve none), every response header, body and SSE event the
test received, and core dumps. Each canary is looked for verbatim and as hex, base64 (every
alignment), URL-encoded, and by any 12 characters of its secret part (tests/support/leaks.py).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.chat_api import VALID_KEYS, User, provider_key
from tests.support.leaks import (
    Canary,
    LogTails,
    RecordingTransport,
    core_dumps_allowed,
    core_files,
    core_limit,
    dump_every_table,
    files_under,
    hits_in,
)
from tests.support.postgres import external_server, server_log
from tests.support.process_stack import HTTP_TIMEOUT_SECONDS, ProcessStack, sse_events
from tests.support.processes import REPO_ROOT
from tests.support.service_processes import ServiceProcess, eventually

pytestmark = pytest.mark.slow  # the whole stack as processes, a crash and restarts

MODELS = {
    "openai": "openai/gpt-5.4-mini",
    "anthropic": "anthropic/claude-sonnet-5",
    "google": "google/gemini-3.8-flash",
}
WRONG_PROVIDER = {"openai": "google", "anthropic": "google", "google": "openai"}
# Every error body the simulator can give, each with the caller's key echoed in it where it has a text.
ECHOED_ERRORS: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "retry_after": "1"},
    "500": {"status": 500},
    "503": {"status": 503},
    "400": {"status": 400},
    "enormous 500": {"status": 500, "huge_body_bytes": 256 * 1024},
    "not JSON": {"status": 502, "not_json": True},
    "truncated": {"truncate_after_events": 2},
}
CLEAN_FAILURES = {400, 409, 422, 429, 502, 503}
PROMPT = " ".join(f"word{i}" for i in range(30))


def new_canary(provider: str, label: str = "") -> Canary:
    return Canary(f"{provider}{label} canary", provider_key(provider), VALID_KEYS[provider][0])


@pytest.fixture
async def recorder(process_stack: ProcessStack) -> AsyncIterator[RecordingTransport]:
    """From here on every request of the test goes through one recorder (the stack's helpers too)."""
    transport, original = RecordingTransport("leak-sweep"), process_stack.http
    async with httpx.AsyncClient(
        base_url=original.base_url, timeout=HTTP_TIMEOUT_SECONDS, transport=transport
    ) as http:
        process_stack.http = http
        yield transport
    process_stack.http = original


def calls_with(stack: ProcessStack, canary: Canary) -> int:
    return sum(1 for call in stack.sim.calls if call.api_key == canary.value)


async def completion(stack: ProcessStack, user: User, model: str, *, stream: bool) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "canary?"}], "stream": stream}
    return await stack.http.post("/v1/chat/completions", json=body, headers=user.headers)


async def each_chat_api(stack: ProcessStack, user: User, conversation: str, provider: str) -> list[int]:
    """One completion, one streamed completion and one conversation message; their statuses."""
    model = MODELS[provider]
    plain = await completion(stack, user, model, stream=False)
    streamed = await completion(stack, user, model, stream=True)
    answer = await stack.send_message(user, conversation, "canary?", model)
    return [plain.status_code, streamed.status_code, answer.status]


async def add_key(stack: ProcessStack, user: User, canary: Canary, provider: str) -> str:
    """Bad input carrying the key, a rejection and an unreachable provider (nothing kept), then the key."""
    for bad in (
        {"provider": WRONG_PROVIDER[provider], "api_key": canary.value},
        {"provider": provider, "api_key": canary.value * 80},
    ):
        response = await stack.http.post("/v1/keys", json=bad, headers=user.headers)
        assert response.status_code == 422, response.text
    body = {"provider": provider, "api_key": canary.value, "verify": True}
    for status, expected in ((401, 422), (500, 502)):
        stack.sim.fail_next(provider, status, echo_key=True, endpoint="any")
        response = await stack.http.post("/v1/keys", json=body, headers=user.headers)
        assert response.status_code == expected, response.text
    before = calls_with(stack, canary)
    response = await stack.http.post("/v1/keys", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    assert calls_with(stack, canary) == before + 1, "verify=true did not reach the provider"
    key_id: str = response.json()["id"]
    return key_id


async def verify(stack: ProcessStack, user: User, key_id: str) -> str:
    response = await stack.http.post(f"/v1/keys/{key_id}/verify", headers=user.headers)
    assert response.status_code == 200, response.text
    verdict: str = response.json()["verdict"]
    return verdict


async def successes(
    stack: ProcessStack, user: User, conversation: str, provider: str, canary: Canary
) -> None:
    before = calls_with(stack, canary)
    assert await each_chat_api(stack, user, conversation, provider) == [200, 200, 200]
    assert calls_with(stack, canary) == before + 3, f"{provider}: the chats did not use the canary"


async def echoed_errors(
    stack: ProcessStack, user: User, conversation: str, provider: str, canary: Canary
) -> None:
    """Every error body, the key echoed in it, through each chat API: clean failures, never a 500."""
    for name, fault in ECHOED_ERRORS.items():
        stack.sim.fail_next(provider, times=3, echo_key=True, **fault)
        before = calls_with(stack, canary)
        statuses = await each_chat_api(stack, user, conversation, provider)
        assert calls_with(stack, canary) >= before + 3, f"{provider} {name}: the provider was not called"
        assert all(s == 200 or s in CLEAN_FAILURES for s in statuses), f"{provider} {name}: {statuses}"
    stack.sim.clear_faults(provider)


async def rejections(stack: ProcessStack, user: User, conversation: str, provider: str, key_id: str) -> None:
    """403 and 401 with the key echoed: the router reports the key invalid over NATS and chat-api
    marks it; a verify the provider rejects (the key echoed), then a valid one, restores it."""
    for status in (403, 401):
        stack.sim.fail_next(provider, status, echo_key=True)
        answer = await stack.send_message(user, conversation, "canary?", MODELS[provider])
        assert answer.status == 422, answer.body
    # Both reports handled, so neither can land after the verifications below.
    marked = f"credential {key_id} ({provider}) marked invalid by the router"
    await eventually(lambda: stack.chat_api.log_count(marked) >= 2, f"{provider} key marked invalid twice")
    stack.sim.fail_next(provider, 401, echo_key=True, endpoint="any")
    assert await verify(stack, user, key_id) == "rejected"
    assert await verify(stack, user, key_id) == "valid"


async def timeouts(stack: ProcessStack, user: User, conversation: str) -> None:
    """A provider that never answers (first-byte timeout) and one that stalls mid-stream (idle)."""
    stack.sim.fail_next("openai", delay_first_byte=30)
    stack.sim.fail_next("anthropic", stall_after_events=4)
    slow, stalled = await asyncio.gather(
        completion(stack, user, MODELS["openai"], stream=False),
        stack.send_message(user, conversation, PROMPT, MODELS["anthropic"]),
    )
    assert slow.status_code == 502, slow.text
    assert stalled.names[-2:] == ["error", "done"], stalled.names


async def crash(
    stack: ProcessStack, user: User, conversation: str, canary: Canary, started: float
) -> dict[str, bytes]:
    """SIGKILL router and keyvault while a stream using the key is open; start both again where a crash
    may dump core, have them use the key, then crash them with SIGABRT: the dumps (there must be
    none) are returned for the sweep and removed."""
    stack.sim.fail_next("openai", paced_stream_interval=0.1)
    names: list[str] = []
    async with (
        asyncio.timeout(20),
        stack.message_stream(user, conversation, PROMPT, MODELS["openai"]) as response,
    ):
        assert response.status_code == 200
        async for name, _ in sse_events(response):
            names.append(name)
            if names.count("delta") == 3:
                stack.router.kill()
                stack.keyvault.kill()
    assert names[-2:] == ["error", "done"], names
    with core_dumps_allowed() as possible:
        await restart(stack)
    await successes(stack, user, conversation, "openai", canary)
    dumps: dict[str, bytes] = {}
    for service in (stack.router, stack.keyvault):
        dumps |= await abort(service, started, expect_dump=possible)
    await restart(stack)
    return dumps


async def restart(stack: ProcessStack) -> None:
    for service in (stack.keyvault, stack.router):
        await service.start()
    await eventually(lambda: stack.ready_is(200), "chat-api ready again after the restarts")


async def abort(service: ServiceProcess, started: float, *, expect_dump: bool) -> dict[str, bytes]:
    """SIGABRT (a crash that dumps core): each dump it left, by place, read and then removed."""
    assert service.process is not None
    soft, _ = core_limit(service.process.pid)
    service.process.send_signal(signal.SIGABRT)
    returncode = await asyncio.to_thread(service.process.wait, 15)
    service.kill()  # already dead: only forgets the process
    dumps: dict[str, bytes] = {}
    for path in core_files([REPO_ROOT], since=started):
        if path.stat().st_mtime < started:
            continue  # not this crash's: the final sweep searches it
        dumps[f"core dump of {service.module} ({path})"] = path.read_bytes()
        if path.parent == REPO_ROOT:  # the next crash would overwrite it; a system crash dir is not ours
            path.unlink()
    assert returncode == -signal.SIGABRT, f"{service.module} exited with {returncode}"
    # Either the process forbade core dumps itself, or its dump is there to be searched.
    forbidden = soft in ("0", "1")  # 1 byte: see switchyard_common.entrypoint.forbid_core_dumps
    assert dumps or forbidden or not expect_dump, f"{service.module} could dump core but left none"
    return dumps


async def plant_control(stack: ProcessStack, user: User, conversation: str, control: Canary) -> None:
    """The sweep's positive control: a canary put, on purpose, where the sweep must find it. chat-api
    logs each request's X-Request-ID (a key-shaped one is a valid id) in its log file, and stores a
    message's content in a table (PostgreSQL logs the INSERT's parameters too)."""
    async with httpx.AsyncClient(base_url=stack.http.base_url, timeout=HTTP_TIMEOUT_SECONDS) as http:
        response = await http.get("/v1/conversations", headers=user.headers | {"X-Request-ID": control.value})
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == control.value
    answer = await stack.send_message(user, conversation, f"remember {control.value}", MODELS["google"])
    assert answer.status == 200, answer.body


def assert_control_found(sweep: Sweep, control: Canary) -> None:
    """The sweep reports the planted canary in each real place it was put."""
    found = {place for place, data in sweep.places.items() if hits_in(data, [control])}
    for place in ("file stack/chat-api.log", "table public.messages"):
        assert place in found, f"the sweep missed the control canary in {place}; found it in {sorted(found)}"
    if any(place.startswith("PostgreSQL server log") for place in sweep.places):
        assert any(place.startswith("PostgreSQL server log") for place in found), sorted(found)


async def revoke(stack: ProcessStack, user: User, key_id: str) -> None:
    response = await stack.http.delete(f"/v1/keys/{key_id}", headers=user.headers)
    assert response.status_code == 204, response.text
    gone = await stack.http.get(f"/v1/keys/{key_id}", headers=user.headers)
    assert gone.status_code == 404, gone.text


class Sweep:
    """Everything the stack left behind, by place, read once every path has been taken."""

    def __init__(
        self, stack: ProcessStack, recorder: RecordingTransport, root: Path, postgres_logs: LogTails
    ) -> None:
        self.stack = stack
        self.postgres_logs = postgres_logs  # what the database server logged meanwhile, if readable
        self.recorder = recorder
        self.root = root  # the test's directory: the stack's logs and audit file, nats-server's store
        self.places: dict[str, bytes] = {}

    def not_vacuous(
        self, canaries: list[Canary], stored: list[str], replacement: str, tables_before: dict[str, bytes]
    ) -> None:
        """The places searched really hold what the paths produced, so finding nothing means something."""
        for canary in canaries:
            assert calls_with(self.stack, canary) > 0, f"the {canary.name} never reached the provider"
        exchanges = self.recorder.exchanges
        chat_log, router_log = self.stack.chat_api.log(), self.stack.router.log()
        logged = [e.request_id for e in exchanges if not e.url.endswith(("/metrics", "/readyz"))]
        assert [rid for rid in logged if rid not in chat_log] == [], "chat-api's log misses requests"
        assert any(e.request_id in router_log for e in exchanges), "the router logged no failed request"
        audit = self.stack.audit_path.read_text()
        assert all(key_id in audit for key_id in [*stored, replacement]), "a key was never decrypted"
        credentials = tables_before["public.credentials"].decode()
        assert all(key_id in credentials for key_id in stored), "the keys were never stored"
        assert b"chat_api_http_requests_total" in exchanges[-1].body, "/metrics said nothing"
        assert any(b"event: delta" in e.body for e in exchanges), "no SSE event was recorded"
        assert any(b"chat.completion.chunk" in e.body for e in exchanges), "no streamed completion"

    async def stop_everything(self) -> None:
        """SIGTERM every service (their shutdown lines count too) and nats-server, so files are final."""
        for service in (self.stack.chat_api, self.stack.router, self.stack.keyvault):
            await asyncio.to_thread(service.stop)
        await asyncio.to_thread(self.stack.nats.stop)

    def collect(self, tables_before: dict[str, bytes], started: float) -> None:
        for table, text in tables_before.items():
            self.places[f"table {table} (before revocation)"] = text
        for table, text in dump_every_table(self.stack.conninfo).items():
            self.places[f"table {table}"] = text
        for path in files_under(self.root):
            self.places[f"file {path.relative_to(self.root)}"] = path.read_bytes()
        for exchange in self.recorder.exchanges:
            self.places[f"response {exchange.request_id} to {exchange.method} {exchange.url}"] = (
                exchange.text()
            )
        for path in core_files([REPO_ROOT, self.root, Path.cwd()], since=started):
            self.places[f"core dump {path}"] = path.read_bytes()
        for path, added in self.postgres_logs.appended().items():
            self.places[f"PostgreSQL server log {path}"] = added

    def read_everything(self, revoked: list[str]) -> None:
        """Every place the sweep must search was found, and holds what the stack put there."""
        for name in ("stack/keyvault.log", "stack/router.log", "stack/chat-api.log", "nats/nats.log"):
            assert self.places.get(f"file {name}"), f"{name} is missing or empty"
        audit = self.places["file stack/audit.jsonl"]
        assert all(key_id.encode() in audit for key_id in revoked), "the audit file misses keys"
        store = b"".join(
            data for place, data in self.places.items() if place.startswith("file nats/jetstream")
        )
        assert all(key_id.encode() in store for key_id in revoked), "no revocation in the JetStream store"
        tables = {place.split()[1] for place in self.places if place.startswith("table ")}
        server_logs = [data for place, data in self.places.items() if place.startswith("PostgreSQL server")]
        if server_logs:  # every statement on this database, with its parameters (tests/leaks/conftest.py)
            logged = b"".join(server_logs)
            assert b"INSERT INTO credentials" in logged, "PostgreSQL logged no statement of chat-api's"
            assert all(key_id.encode() in logged for key_id in revoked), "statement parameters not logged"
        else:
            # Only an external server (TEST_DATABASE_URL) keeps its log out of reach.
            assert external_server(), f"the run's PostgreSQL log ({server_log()}) was not searched"
        for table in ("alembic_version", "credentials", "messages", "outbox_events", "usage_records"):
            assert f"public.{table}" in tables, f"table {table} was not dumped"
        assert self.places["table public.outbox_events"], "no revocation went through the outbox"

    def hits(self, canaries: list[Canary]) -> list[str]:
        return [f"{hit} in {place}" for place, data in self.places.items() for hit in hits_in(data, canaries)]


async def test_canary_keys_are_found_nowhere(
    process_stack: ProcessStack, recorder: RecordingTransport, postgres_logs: LogTails, tmp_path: Path
) -> None:
    stack, started = process_stack, time.time()
    user = await stack.register()
    conversation = await stack.new_conversation(user)
    control = new_canary("google", " control")  # planted on purpose; it must be found
    await plant_control(stack, user, await stack.new_conversation(user), control)
    canaries = {provider: new_canary(provider) for provider in MODELS}
    key_ids: dict[str, str] = {}
    for provider, canary in canaries.items():
        key_ids[provider] = await add_key(stack, user, canary, provider)
        assert await verify(stack, user, key_ids[provider]) == "valid"
        await successes(stack, user, conversation, provider, canary)
        await echoed_errors(stack, user, conversation, provider, canary)
        await rejections(stack, user, conversation, provider, key_ids[provider])
    await timeouts(stack, user, conversation)
    core_dumps = await crash(stack, user, conversation, canaries["openai"], started)
    await successes(stack, user, conversation, "openai", canaries["openai"])

    tables_before, stored = dump_every_table(stack.conninfo), list(key_ids.values())
    replacement = new_canary("openai", " replacement")
    key_ids["openai"] = await add_key(stack, user, replacement, "openai")
    await successes(stack, user, conversation, "openai", replacement)
    all_canaries = [*canaries.values(), replacement]
    for key_id in key_ids.values():
        await revoke(stack, user, key_id)
    await stack.http.get("/metrics")

    sweep = Sweep(stack, recorder, tmp_path, postgres_logs)
    sweep.not_vacuous(all_canaries, stored, key_ids["openai"], tables_before)
    await sweep.stop_everything()
    sweep.collect(tables_before, started)
    sweep.places |= core_dumps
    sweep.read_everything(revoked=[*stored, key_ids["openai"]])
    assert_control_found(sweep, control)
    hits = sweep.hits(all_canaries)
    assert not hits, f"{len(hits)} leaks of {[c.value for c in all_canaries]}:\n" + "\n".join(hits)
