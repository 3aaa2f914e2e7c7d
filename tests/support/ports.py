"""Ports for servers that must be told theirs before they start, and waiting until the process
started (not whoever else) listens on one.

A server that can bind port 0 and report the port it got should: nothing can take that port from
it. A child process told a port in advance binds it later, and another process may take it in
between. `free_port` makes that unlikely, and `wait_for_port` turns it into a clear `PortTaken`
(which a starter may answer by starting again on another port) instead of a test talking to a
stranger.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import time
from pathlib import Path

__all__ = ["PortTaken", "free_port", "listening_pids", "wait_for_port"]

_LISTEN = "0A"  # TCP state of a listening socket in /proc/net/tcp
_LOWEST = 20000  # below this, well-known and registered services live
_handed_out: set[int] = set()


class PortTaken(OSError):
    """Another process listens on the port a child was told to bind."""

    def __init__(self, port: int, owners: set[int]) -> None:
        super().__init__(errno.EADDRINUSE, f"127.0.0.1:{port} is taken by pid {sorted(owners)}")
        self.port = port


def free_port() -> int:
    """A port nothing listens on now, never handed out before by this process.

    Picked at random below the kernel's ephemeral range, which every outgoing connection and every
    bind to port 0 draws from: only another `free_port` caller (another worker) can race for it.
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(_LOWEST, low) if low > _LOWEST + 1000 else _ephemeral_port()
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free TCP port found on 127.0.0.1")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _ephemeral_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def listening_pids(port: int) -> set[int]:
    """The processes holding a socket that listens on TCP `port` (any address), from /proc."""
    inodes = _listening_inodes(port)
    if not inodes:
        return set()
    sockets = {f"socket:[{inode}]" for inode in inodes}
    return {
        int(proc.name) for proc in Path("/proc").iterdir() if proc.name.isdigit() and _holds(proc, sockets)
    }


def _holds(proc: Path, sockets: set[str]) -> bool:
    try:
        fds = list((proc / "fd").iterdir())
    except OSError:  # gone meanwhile, or not ours to read
        return False
    for fd in fds:
        try:
            if os.readlink(fd) in sockets:
                return True
        except OSError:  # closed meanwhile (the listing's own fd, in this process)
            continue
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _descendants(pid: int) -> set[int]:
    """`pid` and every process below it (a supervisor's services, a shell's command)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(proc.name))
    found, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for_port(port: int, timeout: float = 10.0, *, pid: int) -> None:
    """Until process `pid` (or one it started) listens on 127.0.0.1:`port`. Raises `PortTaken` at
    once if another process listens there, and fails if `pid` exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owners = listening_pids(port)
        if owners:
            if owners & _descendants(pid):
                return
            raise PortTaken(port, owners)
        if not _alive(pid):
            raise RuntimeError(f"process {pid} exited before listening on 127.0.0.1:{port}")
        time.sleep(0.02)
    raise TimeoutError(f"process {pid} not listening on 127.0.0.1:{port} after {timeout}s")
