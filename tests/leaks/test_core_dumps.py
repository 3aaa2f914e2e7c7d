"""A service process never dumps core: its memory holds provider keys in plaintext (and keyvault's
RSA private keys), so a crash must not write it to disk, whatever the limit it was started with."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support.leaks import core_dumps_allowed
from tests.support.processes import run_python

CRASH = """
import os, resource, signal, sys
from switchyard_common.entrypoint import run_service

def run():
    secret = "sk-proj-" + "c0ffee" * 8  # what a crash would write out
    print(resource.getrlimit(resource.RLIMIT_CORE), flush=True)
    os.kill(os.getpid(), signal.SIGABRT)

sys.exit(run_service("crasher", "CRASHER_", run))
"""


def test_a_crashing_service_leaves_no_core_dump(tmp_path: Path) -> None:
    with core_dumps_allowed():
        crashed = run_python("-c", CRASH, env=dict(os.environ), timeout=30, cwd=tmp_path)
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr  # the crash really happened
    assert crashed.stdout.strip() == "(1, 1)"  # and could not have dumped, not even by raising it
    assert list(tmp_path.iterdir()) == []


def test_a_service_started_with_core_dumps_already_off_keeps_them_off() -> None:
    script = (
        "import resource; from switchyard_common.entrypoint import forbid_core_dumps;"
        "resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); forbid_core_dumps();"
        "print(resource.getrlimit(resource.RLIMIT_CORE))"
    )
    started = run_python("-c", script, env=dict(os.environ), timeout=30)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "(0, 0)"
