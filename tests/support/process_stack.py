"""The whole stack as real processes: keyvault, router and chat-api (`python -m …`) in front of a real
nats-server, a real PostgreSQL database and the provider simulator, driven over chat-api's HTTP API.

Faults are injected the way they happen in production: SIGKILL a service, stop nats-server, cut the
database's connections. What the services did is read from the outside: HTTP answers, the
simulator's record of provider calls, keyvault's audit file, the services' log lines and the rows
of chat-api's database.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.chat_api import PASSWORD, User, provider_key
from tests.support.keyvault import TestPki
from tests.support.nats_server import NatsServer
from tests.support.service_processes import (
    ServiceProcess,
    chat_api_process,
    keyvault_process,
    router_process,
)

__all__ = ["ProcessStack", "StreamedAnswer", "running_process_stack", "sse_events"]

HTTP_TIMEOUT_SECONDS = 30.0


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A streamed response's SSE events, (name, data), as they arrive."""
    name, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and name:
            yield name, json.loads(data)
            name, data = "", ""


@dataclass
class StreamedAnswer:
    """A conversation answer as the client saw it: the status, then the SSE events in order."""

    status: int
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    body: str = ""

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def last(self, name: str) -> dict[str, Any]:
        return next(data for event, data in reversed(self.events) if event == name)

    @property
    def text(self) -> str:
        return "".join(data["text"] for name, data in self.events if name == "delta")


@dataclass
class ProcessStack:
    keyvault: ServiceProcess
    router: ServiceProcess
    chat_api: ServiceProcess
    nats: NatsServer
    sim: ProviderSimulator
    pki: TestPki
    conninfo: str  # libpq form of chat-api's database, for reading its rows directly
    audit_path: Path
    http: httpx.AsyncClient

    # --- acting as a user --------------------------------------------------------------------------

    async def register(self) -> User:
        email = f"user-{uuid.uuid4().hex[:10]}@example.com"
        response = await self.http.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        body = response.json()
        return User(id=body["user"]["id"], email=email, token=body["access_token"])

    async def add_key(self, user: User, provider: str, api_key: str | None = None) -> dict[str, Any]:
        body = {"provider": provider, "api_key": api_key or provider_key(provider)}
        response = await self.http.post("/v1/keys", json=body, headers=user.headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def complete(self, user: User, model: str, text: str = "hello") -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": text}]}
        return await self.http.post("/v1/chat/completions", json=body, headers=user.headers)

    async def new_conversation(self, user: User) -> str:
        response = await self.http.post("/v1/conversations", json={"title": "faults"}, headers=user.headers)
        assert response.status_code == 201, response.text
        conversation_id: str = response.json()["id"]
        return conversation_id

    @contextlib.asynccontextmanager
    async def message_stream(
        self, user: User, conversation_id: str, content: str, model: str
    ) -> AsyncIterator[httpx.Response]:
        """POST a conversation message and hold its response open (read it with `sse_events`)."""
        request = self.http.build_request(
            "POST",
            f"/v1/conversations/{conversation_id}/messages",
            json={"content": content, "model": model},
            headers=user.headers,
        )
        response = await self.http.send(request, stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    async def send_message(
        self, user: User, conversation_id: str, content: str, model: str
    ) -> StreamedAnswer:
        """The whole answer: its SSE events, or the body of a response that is not a stream."""
        async with self.message_stream(user, conversation_id, content, model) as response:
            answer = StreamedAnswer(status=response.status_code)
            if response.headers["content-type"].startswith("text/event-stream"):
                answer.events = [event async for event in sse_events(response)]
            else:
                answer.body = (await response.aread()).decode()
        return answer

    # --- reading what happened ---------------------------------------------------------------------

    def decrypts(self, credential_id: str) -> int:
        """Decrypts keyvault audited as done ("ok") for this credential."""
        if not self.audit_path.exists():
            return 0
        count = 0
        for line in self.audit_path.read_text().splitlines():
            record = json.loads(line)
            if record["credential_id"] == credential_id and record["outcome"] == "ok":
                count += 1
        return count

    def provider_calls_with(self, provider: str, api_key: str, *, started_after: float = 0.0) -> int:
        return sum(
            1
            for call in self.sim.calls_for(provider)
            if call.api_key == api_key and call.started_at > started_after
        )

    async def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        """Rows of chat-api's database, read directly (not through chat-api)."""
        async with await psycopg.AsyncConnection.connect(self.conninfo, connect_timeout=5) as db:
            cursor = await db.execute(query, params)
            return await cursor.fetchall()

    async def ready(self) -> int:
        """chat-api's /readyz status (0 if it does not answer)."""
        try:
            return (await self.http.get("/readyz", timeout=5)).status_code
        except httpx.HTTPError:
            return 0

    async def ready_is(self, status: int) -> bool:
        """For `eventually(lambda: stack.ready_is(200), …)`."""
        return await self.ready() == status


@contextlib.asynccontextmanager
async def running_process_stack(
    *,
    pki: TestPki,
    keys_dir: Path,
    nats: NatsServer,
    sim: ProviderSimulator,
    database_url: str,
    conninfo: str,
    work_dir: Path,
    router_settings: dict[str, object] | None = None,
    chat_api_settings: dict[str, object] | None = None,
) -> AsyncIterator[ProcessStack]:
    """Start keyvault, router and chat-api in dependency order; SIGKILL whatever is left at the end."""
    work_dir.mkdir(parents=True, exist_ok=True)
    audit_path = work_dir / "audit.jsonl"
    keyvault = keyvault_process(
        pki=pki, keys_dir=keys_dir, nats_url=nats.url, audit_path=audit_path, log_dir=work_dir
    )
    router = router_process(
        pki=pki,
        keyvault_port=keyvault.port,
        nats_url=nats.url,
        sim=sim,
        log_dir=work_dir,
        **(router_settings or {}),
    )
    chat_api = chat_api_process(
        pki=pki,
        database_url=database_url,
        router_port=router.port,
        nats_url=nats.url,
        log_dir=work_dir,
        **(chat_api_settings or {}),
    )
    services = (keyvault, router, chat_api)
    try:
        for service in services:
            await service.start()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{chat_api.port}", timeout=HTTP_TIMEOUT_SECONDS
        ) as http:
            yield ProcessStack(
                keyvault=keyvault,
                router=router,
                chat_api=chat_api,
                nats=nats,
                sim=sim,
                pki=pki,
                conninfo=conninfo,
                audit_path=audit_path,
                http=http,
            )
    finally:
        for service in reversed(services):
            service.kill()
