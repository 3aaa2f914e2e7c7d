"""Repository-level contracts: generated code is fresh, dependency lists stay honest."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_KEYVAULT = {
    "fastapi",
    "starlette",
    "httpx",
    "requests",
    "aiohttp",
    "urllib3",
    "sqlalchemy",
    "uvicorn",
}


def _names(requirements: Path) -> set[str]:
    names = set()
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _project_deps(pyproject: Path) -> set[str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return {re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower() for dep in deps}


def test_generated_protobuf_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "switchyard_dev.protogen", "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_keyvault_image_has_no_web_http_or_orm_dependency() -> None:
    locked = _names(ROOT / "requirements" / "keyvault.lock")
    assert locked, "empty lock"
    assert not locked & FORBIDDEN_IN_KEYVAULT, locked & FORBIDDEN_IN_KEYVAULT


def test_keyvault_lock_covers_exactly_what_keyvault_and_common_declare() -> None:
    declared = (
        _project_deps(ROOT / "services/keyvault/pyproject.toml")
        | _project_deps(ROOT / "libs/common/pyproject.toml")
    ) - {"switchyard-common"}
    assert _names(ROOT / "requirements" / "keyvault.in") == declared
    assert declared <= _names(ROOT / "requirements" / "keyvault.lock")


def test_dev_lock_includes_the_keyvault_lock_pins() -> None:
    pins = {
        line.strip()
        for line in (ROOT / "requirements" / "keyvault.lock").read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }
    dev = (ROOT / "requirements" / "dev.lock").read_text()
    assert [pin for pin in pins if pin not in dev] == []
