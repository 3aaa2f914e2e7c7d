"""The children a bench starts: start them, wait until each is ready, stop them all in order."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = [
    "BIN",
    "REPO",
    "BenchError",
    "Processes",
    "grpc_serving",
    "http_ok",
    "interruptible",
    "wait_until",
]

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class BenchError(RuntimeError):
    pass


class Processes:
    """Every child this bench starts; `stop_all` terminates them newest first, then kills stragglers."""

    def __init__(self) -> None:
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        stdout: int | IO[bytes] | None = subprocess.DEVNULL,
        stderr: int | IO[bytes] | None = None,
    ) -> subprocess.Popen[bytes]:
        # A session of its own: Ctrl-C reaches only this bench, which then stops its children in order
        # (routers before keyvault before NATS) instead of all of them dying under a running measurement.
        child = subprocess.Popen(
            list(argv), env=env, cwd=REPO, stdout=stdout, stderr=stderr, start_new_session=True
        )
        self._children.append((name, child))
        return child

    def stop_all(self) -> None:
        """Newest first (routers before keyvault before NATS), so none logs its dependencies vanishing."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan any
        try:
            self._stop_all()
        finally:
            signal.signal(signal.SIGINT, previous)

    def _stop_all(self) -> None:
        while self._children:
            name, child = self._children.pop()
            if child.poll() is None:
                child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"{name} (pid {child.pid}) ignored SIGTERM; killing it", file=sys.stderr)
                child.kill()
                child.wait()


def wait_until(
    what: str,
    ready: Callable[[], bool],
    child: subprocess.Popen[bytes],
    timeout: float,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        failure = None
        if child.poll() is not None:
            failure = f"{what} exited with status {child.returncode} during start-up"
        elif time.monotonic() > deadline:
            failure = f"{what} was not ready after {timeout:.0f}s"
        if failure is not None:
            if log is not None and log.exists():
                print("\n".join(log.read_text(errors="replace").splitlines()[-30:]), file=sys.stderr)
            raise BenchError(failure)
        time.sleep(0.05)


def grpc_serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Handled like Ctrl-C: asyncio.run cancels the measurement and raises KeyboardInterrupt.
    signal.raise_signal(signal.SIGINT)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt even if this process was started with it ignored (`cmd &`),
    and SIGTERM does the same as SIGINT."""
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
