"""tests/support/ports.py: who listens on a port, and waiting for the right process to."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.support.ports import PortTaken, free_port, listening_pids, wait_for_port

NO_SUCH_PID = 2**22 + 1  # above the kernel's pid_max limit: never a process


def test_listening_pids_names_the_process_that_listens() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert listening_pids(port) == {os.getpid()}
    assert listening_pids(port) == set()


def test_a_bound_socket_that_does_not_listen_is_no_listener() -> None:
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        assert listening_pids(bound.getsockname()[1]) == set()


def test_wait_for_port_returns_once_the_expected_process_listens() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        wait_for_port(listener.getsockname()[1], timeout=5, pid=os.getpid())


def test_wait_for_port_refuses_another_process_on_the_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(PortTaken, match=f"127.0.0.1:{port} is taken by pid \\[{os.getpid()}\\]"):
            wait_for_port(port, timeout=5, pid=NO_SUCH_PID)


def test_wait_for_port_fails_when_the_process_is_gone() -> None:
    with socket.socket() as bound:  # held, so nothing else can listen there meanwhile
        bound.bind(("127.0.0.1", 0))
        with pytest.raises(RuntimeError, match=f"process {NO_SUCH_PID} exited"):
            wait_for_port(bound.getsockname()[1], timeout=5, pid=NO_SUCH_PID)


def test_free_ports_are_bindable_distinct_and_outside_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    for port in ports:
        assert port < low or low <= 21000  # a machine with no room below its ephemeral range
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
