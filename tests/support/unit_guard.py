"""A guard that refuses what a unit-tier test must not do: start a process, open a database, or
connect beyond loopback. tests/support/tiers.py installs it around every unit test, so a test that
does one of these fails instead of silently slowing `make test-unit` down."""

from __future__ import annotations

import _posixsubprocess
import ipaddress
import os
import socket
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import psycopg

__all__ = ["HINT", "UnitTierViolation", "Violations", "unit_guard"]

HINT = "classify it as integration in tests/support/tiers.py (HEAVY_FIXTURES or INTEGRATION_PATHS)"
_SPAWNERS = ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system")


class UnitTierViolation(Exception):
    """A unit-tier test did something that belongs in the integration tier."""


@dataclass
class Violations:
    """Every refusal while the guard was on, kept even if the code under test caught the exception."""

    seen: list[str] = field(default_factory=list)

    def refuse(self, what: str) -> NoReturn:
        __tracebackhide__ = True  # the report shows the test's call, not this
        self.seen.append(what)
        raise UnitTierViolation(f"a unit-tier test {what}; {HINT}")


@contextmanager
def unit_guard() -> Iterator[Violations]:
    """Refuse process starts, database connections and non-loopback connects until the block ends."""
    violations = Violations()
    patches = _Patches()
    try:
        _refuse_processes(patches, violations)
        _refuse_databases(patches, violations)
        _refuse_remote_connects(patches, violations)
        yield violations
    finally:
        patches.restore()


class _Patches:
    """Attributes replaced on modules and classes, put back in reverse order."""

    def __init__(self) -> None:
        self._saved: list[tuple[object, str, bool, object]] = []

    def replace(self, owner: object, name: str, replacement: object) -> None:
        # vars(), not getattr(): a classmethod must be put back as the descriptor it was.
        own = vars(owner)
        self._saved.append((owner, name, name in own, own.get(name)))
        setattr(owner, name, replacement)

    def restore(self) -> None:
        for owner, name, had, value in reversed(self._saved):
            if had:
                setattr(owner, name, value)
            else:
                delattr(owner, name)


def _refusing(violations: Violations, what: str) -> Callable[..., NoReturn]:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        __tracebackhide__ = True
        violations.refuse(what)

    return refuse


def _refuse_processes(patches: _Patches, violations: Violations) -> None:
    # Popen covers subprocess.run and asyncio's subprocesses; fork_exec covers multiprocessing.
    def execute_child(popen: subprocess.Popen[Any], args: object, *rest: object) -> NoReturn:
        __tracebackhide__ = True
        violations.refuse(f"started a process: {args!r}")

    patches.replace(subprocess.Popen, "_execute_child", execute_child)
    patches.replace(_posixsubprocess, "fork_exec", _refusing(violations, "started a process (fork_exec)"))
    for name in _SPAWNERS:
        patches.replace(os, name, _refusing(violations, f"started a process (os.{name})"))


def _refuse_databases(patches: _Patches, violations: Violations) -> None:
    # SQLAlchemy's psycopg dialect calls psycopg.connect, an alias bound when psycopg was imported.
    refuse = _refusing(violations, "opened a database connection (psycopg)")
    patches.replace(psycopg, "connect", refuse)
    patches.replace(psycopg.Connection, "connect", classmethod(refuse))
    patches.replace(psycopg.AsyncConnection, "connect", classmethod(refuse))
    patches.replace(sqlite3, "connect", _refusing(violations, "opened a database (sqlite3)"))


def _refuse_remote_connects(patches: _Patches, violations: Violations) -> None:
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def check(sock: socket.socket, address: Any) -> None:
        __tracebackhide__ = True
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            violations.refuse(f"connected beyond loopback: {address!r}")

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return connect_ex(sock, address)

    patches.replace(socket.socket, "connect", guarded_connect)
    patches.replace(socket.socket, "connect_ex", guarded_connect_ex)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
