"""`python -m chat_api` as an operator runs it: SIGTERM stops accepting, lets requests in flight
finish within the grace period, and exits 0."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.keyvault import TestPki
from tests.support.ports import free_port, wait_for_port
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


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a router that hangs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.fixture
def chat_api_process(test_pki: TestPki, blackhole: int, tmp_path: Path) -> Iterator[ChatApiProcess]:
    files, port = test_pki.files["chat-api"], free_port()
    env = environ_without("CHAT_API_") | {
        "CHAT_API_PORT": str(port),
        "CHAT_API_DATABASE_URL": f"sqlite+pysqlite:///{tmp_path / 'chat-api.db'}",
        "CHAT_API_TLS_CA_FILE": str(files.ca),
        "CHAT_API_TLS_CERT_FILE": str(files.cert),
        "CHAT_API_TLS_KEY_FILE": str(files.key),
        "CHAT_API_ROUTER_ADDRESS": f"127.0.0.1:{blackhole}",
        "CHAT_API_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "CHAT_API_SHUTDOWN_GRACE_SECONDS": "10",
    }
    log_path = tmp_path / "chat-api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "chat_api"], env=env, stderr=log)
    try:
        wait_for_port(port, timeout=60)
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


async def test_sigterm_lets_a_request_in_flight_finish(chat_api_process: ChatApiProcess) -> None:
    async with httpx.AsyncClient(base_url=chat_api_process.base_url, timeout=30) as http:
        assert (await http.get("/healthz")).status_code == 200
        # /readyz waits ~1 s for the hanging router's health check: still running at SIGTERM.
        in_flight = asyncio.create_task(http.get("/readyz", headers={"X-Request-ID": "in-flight"}))
        await asyncio.sleep(0.3)
        chat_api_process.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.2)
        assert not in_flight.done()
        # A new connection is refused while the one in flight is still being answered.
        async with httpx.AsyncClient(base_url=chat_api_process.base_url, timeout=2) as fresh:
            with pytest.raises(httpx.ConnectError):
                await fresh.get("/healthz")
        response = await in_flight
    assert response.status_code == 503
    assert response.headers["X-Request-ID"] == "in-flight"
    assert "router" in response.json()["failed"]
    assert await asyncio.to_thread(chat_api_process.process.wait, 15) == 0
    assert "Traceback" not in chat_api_process.log()
