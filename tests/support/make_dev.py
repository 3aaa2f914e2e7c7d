"""`make dev` as a person runs it: in a copy of this checkout, from a terminal, stopped with Ctrl-C.

The copy keeps the developer's own `.dev/` out of reach: it holds every tracked and not-ignored file
(mtimes kept, so make sees nothing to rebuild) and a symlink to the real `.venv`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from switchyard_dev import devstack
from switchyard_dev.supervisor import Port
from tests.support.processes import REPO_ROOT

__all__ = ["MakeDev", "Proc", "copy_checkout", "default_ports", "descendants", "processes_mentioning"]

# Settings that would make `make dev` run on anything but its defaults, and make's own state when
# the suite itself runs under make (`make test`).
_NOT_A_NEWCOMERS = ("KEYVAULT_", "ROUTER_", "CHAT_API_", "SWITCHYARD_", "TEST_DATABASE_URL")
_MAKE_STATE = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def default_ports() -> dict[str, int]:
    """Every port `make dev` listens on by default, by setting."""
    ports = [value for value in vars(devstack).values() if isinstance(value, Port)]
    return {port.setting: port.default for port in ports}


def copy_checkout(destination: Path) -> Path:
    """Copy the checkout's tracked and not-ignored files to `destination`, linking the real .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = REPO_ROOT / relative
        if not source.is_file():  # deleted in the working tree, not yet committed
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (destination / ".venv").symlink_to(REPO_ROOT / ".venv", target_is_directory=True)
    return destination


def newcomer_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_NOT_A_NEWCOMERS) and name not in _MAKE_STATE
    }


@dataclass(frozen=True)
class Proc:
    """A process, told apart from a later one with the same pid by its start time."""

    pid: int
    start: int
    pgid: int
    cmdline: str

    def alive(self) -> bool:
        found = _read(self.pid)
        return found is not None and found.start == self.start and not _zombie(self.pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in {"Z", "X"}


def _read(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    # Fields after the command name (which may hold spaces and parentheses).
    rest = stat.rpartition(")")[2].split()
    return Proc(pid=pid, start=int(rest[19]), pgid=int(rest[2]), cmdline=cmdline.strip())


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def descendants(root: int) -> list[Proc]:
    """`root` and every process below it, now."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        parent = _ppid(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        proc = _read(pid)
        if proc is not None:
            found.append(proc)
        todo.extend(children.get(pid, []))
    return found


def processes_mentioning(text: str) -> list[Proc]:
    """Live processes whose command line contains `text` (e.g. a path under the copy's .dev)."""
    procs = (_read(pid) for pid in _all_pids() if pid != os.getpid())
    return [proc for proc in procs if proc is not None and text in proc.cmdline and not _zombie(proc.pid)]


@dataclass
class MakeDev:
    """One `make dev` in `checkout`, in its own session as a terminal would run it."""

    checkout: Path
    popen: subprocess.Popen[bytes] | None = None
    _output: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._output.clear()
        self.popen = subprocess.Popen(
            ["make", "dev"],
            cwd=self.checkout,
            env=newcomer_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(self.popen,), daemon=True).start()

    def _pump(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None
        for line in iter(popen.stdout.readline, b""):
            with self._lock:
                self._output.append(line.decode(errors="replace"))

    @property
    def output(self) -> str:
        with self._lock:
            return "".join(self._output)

    def wait_for_output(self, marker: str, *, within: float) -> str:
        """The output so far once it contains `marker`; fails on a deadline or an early exit."""
        assert self.popen is not None
        deadline = time.monotonic() + within
        while marker not in self.output:
            if self.popen.poll() is not None:
                time.sleep(0.2)  # let the pump drain the pipe
                raise AssertionError(
                    f"make dev exited ({self.popen.returncode}) before {marker!r}:\n{self.output}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"make dev did not print {marker!r} within {within:.0f}s:\n{self.output}"
                )
            time.sleep(0.1)
        return self.output

    def interrupt(self, *, within: float) -> int:
        """Ctrl-C: SIGINT to make's process group, as a terminal sends it; make's exit status."""
        assert self.popen is not None
        os.killpg(self.popen.pid, signal.SIGINT)
        try:
            return self.popen.wait(timeout=within)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"make dev still running {within:.0f}s after Ctrl-C:\n{self.output}"
            ) from None

    def kill_leftovers(self, procs: list[Proc]) -> None:
        """Teardown after a failure: nothing this test started may outlive it."""
        for proc in procs:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def bindable(port: int) -> bool:
    """Nothing holds the port: the bind `make dev`'s own port check makes (TIME_WAIT is no holder)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
