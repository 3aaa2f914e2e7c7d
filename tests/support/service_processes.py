"""keyvault, router and chat-api as real processes (`python -m <service>`), as an operator runs them.

Each service gets fixed ports for its whole life, so a test can SIGKILL it and start it again where
its callers expect it. Its output (JSON log lines; keyvault's audit goes to its own file) is
appended to one log file per service, which tests read to observe what the service says it did.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from grpc_health.v1 import health_pb2

from switchyard_dev.provider_sim import ProviderSimulator
from tests.support.keyvault import TestPki, probe_health, status_or_code
from tests.support.ports import PortTaken, free_port, listening_pids
from tests.support.processes import REPO_ROOT, environ_without
from tests.support.router import PLATFORM_KEYS, TEST_TIMEOUTS

__all__ = [
    "ServiceProcess",
    "chat_api_process",
    "eventually",
    "grpc_serving",
    "http_ready",
    "keyvault_process",
    "router_process",
]

START_SECONDS = 30.0
STOP_SECONDS = 15.0
POLL_SECONDS = 0.05
SERVING: int = health_pb2.HealthCheckResponse.SERVING


async def eventually(
    condition: Callable[[], Awaitable[bool] | bool], what: str, *, timeout: float = 20.0
) -> None:
    """Poll `condition` until it holds; fail naming `what` if it has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(POLL_SECONDS)


@dataclass
class ServiceProcess:
    """One service's process; `start()` again after `kill()` or `stop()` serves on the same ports."""

    module: str
    env: dict[str, str]
    log_path: Path
    port: int
    ready: Callable[[ServiceProcess], Awaitable[bool]]
    health_port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def start(self) -> None:
        """Spawn the process and wait until it says it is ready."""
        assert not self.running, f"{self.module} is already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await eventually(self._started, f"{self.module} ready", timeout=START_SECONDS)

    async def _started(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.module} exited with {self.process.returncode}:\n{self.log_tail()}")
        if not await self.ready(self):
            return False
        # Ready on its ports means nothing if another process answered there.
        assert self.process is not None
        for port in (self.port, self.health_port):
            owners = listening_pids(port) if port else {self.process.pid}
            if self.process.pid not in owners:
                raise PortTaken(port, owners)
        return True

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to close anything, as in a crash or an OOM kill."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM (its graceful stop), escalating to SIGKILL if it does not exit in time."""
        self._end(signal.SIGTERM)

    def _end(self, signum: signal.Signals) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_count(self, text: str) -> int:
        return self.log().count(text)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


async def grpc_serving(service: ServiceProcess) -> bool:
    """The service's plaintext health port answers SERVING."""
    return await status_or_code(probe_health(service.health_port, timeout=1)) == SERVING


async def http_ready(service: ServiceProcess) -> bool:
    """chat-api's /readyz answers 200 (database, NATS and router all reachable)."""
    try:
        async with httpx.AsyncClient(timeout=3) as http:
            response = await http.get(f"http://127.0.0.1:{service.port}/readyz")
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _env(prefix: str, values: dict[str, object]) -> dict[str, str]:
    return environ_without(prefix) | {f"{prefix}{name.upper()}": str(value) for name, value in values.items()}


def keyvault_process(
    *, pki: TestPki, keys_dir: Path, nats_url: str, audit_path: Path, log_dir: Path, **overrides: object
) -> ServiceProcess:
    files = pki.files["keyvault"]
    port, health_port = free_port(), free_port()
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "health_port": health_port,
        "keys_dir": keys_dir,
        "tls_ca_file": files.ca,
        "tls_cert_file": files.cert,
        "tls_key_file": files.key,
        "nats_url": nats_url,
        "audit_sink": audit_path,
        "shutdown_grace_seconds": 0,
        **overrides,
    }
    return ServiceProcess(
        module="keyvault",
        env=_env("KEYVAULT_", values),
        log_path=log_dir / "keyvault.log",
        port=port,
        health_port=health_port,
        ready=grpc_serving,
    )


def router_process(
    *,
    pki: TestPki,
    keyvault_port: int,
    nats_url: str,
    sim: ProviderSimulator,
    log_dir: Path,
    **overrides: object,
) -> ServiceProcess:
    """A router with the test timeouts of tests/support/router.py and the simulator as every provider."""
    files = pki.files["router"]
    port, health_port = free_port(), free_port()
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "health_port": health_port,
        "keyvault_address": f"localhost:{keyvault_port}",
        "tls_ca_file": files.ca,
        "tls_cert_file": files.cert,
        "tls_key_file": files.key,
        "nats_url": nats_url,
        **TEST_TIMEOUTS,
        **{f"{provider}_platform_key": key for provider, key in PLATFORM_KEYS.items()},
        **overrides,
    }
    return ServiceProcess(
        module="router",
        env=_env("ROUTER_", values) | sim.router_env(),
        log_path=log_dir / "router.log",
        port=port,
        health_port=health_port,
        ready=grpc_serving,
    )


def chat_api_process(
    *,
    pki: TestPki,
    database_url: str,
    router_port: int,
    nats_url: str,
    log_dir: Path,
    **overrides: object,
) -> ServiceProcess:
    """chat-api on an already migrated database; ready once /readyz says so."""
    files = pki.files["chat-api"]
    port = free_port()
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "database_url": database_url,
        "migrate_on_start": "false",
        "router_address": f"localhost:{router_port}",
        "nats_url": nats_url,
        "tls_ca_file": files.ca,
        "tls_cert_file": files.cert,
        "tls_key_file": files.key,
        "shutdown_grace_seconds": 0,
        "outbox_retry_seconds": 0.05,
        "outbox_retry_max_seconds": 0.5,
        # The fault and load suites drive tight chat loops per user; the limits have their own tests.
        "chat_rate_per_minute": 0,
        "key_check_rate_per_minute": 0,
        **overrides,
    }
    return ServiceProcess(
        module="chat_api",
        env=_env("CHAT_API_", values),
        log_path=log_dir / "chat-api.log",
        port=port,
        ready=http_ready,
    )
