"""The supervisor under `make dev`: start processes in order, wait for each, watch them, stop them all.

What the processes are lives in devstack.py; this module knows only how to run a list of them in the
foreground: a port already taken is reported before anything starts, a process that exits stops the
whole stack with one line saying why, and every child runs in its own session so that Ctrl-C reaches
the supervisor alone, which then stops each child in reverse order.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Port", "Process", "StackFailed", "ports_in_use", "supervise"]

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


class StackFailed(Exception):
    """A process could not start or exited; the message is one line for a person."""


@dataclass(frozen=True)
class Port:
    setting: str
    default: int

    def value(self, env: Mapping[str, str]) -> int:
        return int(env.get(self.setting, self.default))


@dataclass
class Process:
    name: str
    argv: list[str]
    ports: list[Port]
    ready: Callable[[Mapping[str, str]], bool]
    describe: Callable[[Mapping[str, str]], str]
    env: dict[str, str] = field(default_factory=dict)
    # Run once the process is ready (e.g. create chat-api's database).
    on_ready: Callable[[], None] | None = None
    # Why it exited, in one line, from its own log where it has one.
    exit_reason: Callable[[int | None], str] | None = None
    # Where its output goes (None: this terminal); PostgreSQL's would drown the others'.
    output: Path | None = None
    # PostgreSQL's "fast shutdown" is SIGINT (its SIGTERM waits for every client to leave).
    stop_signal: int = signal.SIGTERM
    popen: subprocess.Popen[bytes] | None = None

    def exited(self) -> str:
        assert self.popen is not None
        code = self.popen.returncode
        return self.exit_reason(code) if self.exit_reason else f"{self.name} exited with code {code}"


def ports_in_use(stack: list[Process], env: Mapping[str, str]) -> list[str]:
    problems = []
    for process in stack:
        for port in process.ports:
            number = port.value(env)
            with socket.socket() as sock:
                # As every server of the stack binds: connections of the last run still in TIME_WAIT
                # do not hold the port (without it, `make dev` right after Ctrl-C says "in use").
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", number))
                except OSError:
                    problems.append(
                        f"port {number} ({port.setting}, for {process.name}) is already in use: "
                        f"stop what uses it or run `{port.setting}=<free port> make dev`"
                    )
    return problems


def _start(process: Process, env: dict[str, str]) -> None:
    argv = [part.format(bin=BIN, **env) for part in process.argv]
    # A new process group: Ctrl-C reaches this supervisor only, which then stops each child in order.
    if process.output is None:
        process.popen = subprocess.Popen(argv, env=env, start_new_session=True)
        return
    process.output.parent.mkdir(parents=True, exist_ok=True)
    with process.output.open("ab") as output:
        process.popen = subprocess.Popen(
            argv, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_ready(process: Process, env: Mapping[str, str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert process.popen is not None
        if process.popen.poll() is not None:
            raise StackFailed(process.exited())
        if process.ready(env):
            if process.on_ready is not None:
                process.on_ready()
            return
        time.sleep(0.1)
    raise StackFailed(f"{process.name} was not ready after {STARTUP_TIMEOUT_SECONDS:.0f}s")


def _stop_all(stack: list[Process]) -> None:
    for process in reversed(stack):
        if process.popen is not None and process.popen.poll() is None:
            process.popen.send_signal(process.stop_signal)
            try:
                process.popen.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()


def supervise(stack: list[Process], env: dict[str, str], *, state: Path) -> int:
    """Start `stack` in order and watch it until SIGINT/SIGTERM (0) or until a process fails (1)."""
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        for process in stack:
            _start(process, env)
            _wait_ready(process, env)
        print("\nSwitchyard dev stack is up (Ctrl-C stops everything):")
        for process in stack:
            print(f"  {process.name:<10} {process.describe(env)}")
        print(f"  state in {state}", flush=True)
        while not stopping:
            for process in stack:
                assert process.popen is not None
                if process.popen.poll() is not None:
                    raise StackFailed(process.exited())
            time.sleep(0.2)
        print("\nstopping…", flush=True)
        return 0
    except StackFailed as exc:
        print(f"make dev: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop_all(stack)
        print("stopped", flush=True)
