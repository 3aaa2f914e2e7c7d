"""Running Python entry points of this repository as subprocesses, as an operator or CI would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def environ_without(prefix: str) -> dict[str, str]:
    """This process's environment minus every variable whose name starts with `prefix`."""
    return {name: value for name, value in os.environ.items() if not name.startswith(prefix)}


def run_python(
    *args: str, env: dict[str, str], timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python *args` to completion, its output captured as text; a non-zero exit does not raise."""
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
