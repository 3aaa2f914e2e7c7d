"""`python -m chat_api` as an operator runs it: SIGTERM stops accepting, lets requests in flight
finish within the grace period, and exits 0."""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.keyvault import TestPki
from tests.support.ports import free_port, wait_for_port
from tests.support.postgres import sqlalchemy_url
from tests.support.processes import environ_without


@dataclass
class ChatApiProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text()


class Blackhole:
    """A router that hangs: it accepts TCP connections and never answers, until `drop()` resets
    them. `connected()` waits for a new connection: chat-api dialling the router."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._connections: list[socket.socket] = []
        self._accepted = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._accepted:
                self._connections.append(connection)
                self._accepted.notify_all()

    @property
    def accepted(self) -> int:
        with self._accepted:
            return len(self._connections)

    def connected(self, after: int, *, timeout: float = 30.0) -> None:
        with self._accepted:
            if not self._accepted.wait_for(lambda: len(self._connections) > after, timeout):
                raise AssertionError(f"chat-api did not dial the router within {timeout}s")

    def drop(self) -> None:
        """Reset every connection (RST, not FIN): the caller's call fails at once."""
        with self._accepted:
            for connection in self._connections:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()
            self._connections.clear()

    def close(self) -> None:
        self.drop()
        self._listener.close()


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    hole = Blackhole()
    yield hole
    hole.close()


@pytest.fixture
def chat_api_process(
    test_pki: TestPki, blackhole: Blackhole, postgres_url: str, tmp_path: Path
) -> Iterator[ChatApiProcess]:
    files, port = test_pki.files["chat-api"], free_port()
    env = environ_without("CHAT_API_") | {
        "CHAT_API_PORT": str(port),
        "CHAT_API_DATABASE_URL": sqlalchemy_url(postgres_url),
        "CHAT_API_TLS_CA_FILE": str(files.ca),
        "CHAT_API_TLS_CERT_FILE": str(files.cert),
        "CHAT_API_TLS_KEY_FILE": str(files.key),
        "CHAT_API_ROUTER_ADDRESS": f"127.0.0.1:{blackhole.port}",
        "CHAT_API_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "CHAT_API_SHUTDOWN_GRACE_SECONDS": "10",
    }
    log_path = tmp_path / "chat-api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "chat_api"], env=env, stderr=log)
    try:
        wait_for_port(port, timeout=60, pid=process.pid)
        yield ChatApiProcess(process=process, port=port, log_path=log_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_on_an_idle_server_exits_0_promptly(
    chat_api_process: ChatApiProcess, signum: signal.Signals
) -> None:
    assert httpx.get(f"{chat_api_process.base_url}/healthz", timeout=10).status_code == 200
    started = time.monotonic()
    chat_api_process.process.send_signal(signum)
    assert chat_api_process.process.wait(timeout=15) == 0
    assert time.monotonic() - started < 5
    log = chat_api_process.log()
    assert "Traceback" not in log
    assert "chat-api stopped" in log


async def test_sigterm_lets_a_request_in_flight_finish(
    chat_api_process: ChatApiProcess, blackhole: Blackhole
) -> None:
    async with httpx.AsyncClient(base_url=chat_api_process.base_url, timeout=30) as http:
        registered = await http.post(
            "/v1/auth/register", json={"email": "a@example.com", "password": "x" * 12}
        )
        assert registered.status_code == 201, registered.text
        user = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        body = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]}
        before = blackhole.accepted
        in_flight = asyncio.create_task(
            http.post("/v1/chat/completions", json=body, headers=user | {"X-Request-ID": "in-flight"})
        )
        # The chat is in flight once chat-api dials the router, and stays so until the router answers.
        await asyncio.to_thread(blackhole.connected, before)
        chat_api_process.process.send_signal(signal.SIGTERM)
        await refusing(chat_api_process.port)  # stopped accepting: a new connection is refused ...
        assert not in_flight.done()  # ... while the chat in flight is still being answered
        assert chat_api_process.process.poll() is None
        blackhole.drop()
        response = await in_flight
    # The router hung up on it: answered, not cut off by the stop.
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "router_unavailable"
    assert response.headers["X-Request-ID"] == "in-flight"
    assert await asyncio.to_thread(chat_api_process.process.wait, 15) == 0
    log = chat_api_process.log()
    assert "Traceback" not in log
    # uvicorn's own word that it did not give up waiting and cancel the requests in flight.
    assert "timeout graceful shutdown exceeded" not in log


async def refusing(port: int, *, timeout: float = 15.0) -> None:
    """Until a new connection to `port` is refused; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except ConnectionRefusedError:
                return
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.01)
