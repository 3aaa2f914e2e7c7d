"""Repository-level contracts: generated code is fresh, dependency lists stay honest."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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


FORBIDDEN_IN_ROUTER = {"fastapi", "starlette", "sqlalchemy", "uvicorn", "psycopg", "openai", "anthropic"}
# chat-api reaches providers only through the router, so it carries no provider SDK.
FORBIDDEN_IN_CHAT_API = {"openai", "anthropic", "google-genai"}
SERVICES = {
    "keyvault": FORBIDDEN_IN_KEYVAULT,
    "router": FORBIDDEN_IN_ROUTER,
    "chat-api": FORBIDDEN_IN_CHAT_API,
}


@pytest.mark.parametrize(("service", "forbidden"), SERVICES.items())
def test_service_image_has_no_forbidden_dependency(service: str, forbidden: set[str]) -> None:
    """keyvault: no web framework, HTTP client or ORM; router: no web server, ORM or provider SDK;
    chat-api: no provider SDK (it reaches providers only through the router)."""
    locked = _names(ROOT / "requirements" / f"{service}.lock")
    assert locked, "empty lock"
    assert not locked & forbidden, locked & forbidden


@pytest.mark.parametrize("service", SERVICES)
def test_service_lock_covers_exactly_what_the_service_and_common_declare(service: str) -> None:
    declared = (
        _project_deps(ROOT / f"services/{service}/pyproject.toml")
        | _project_deps(ROOT / "libs/common/pyproject.toml")
    ) - {"switchyard-common"}
    assert _names(ROOT / "requirements" / f"{service}.in") == declared
    assert declared <= _names(ROOT / "requirements" / f"{service}.lock")


@pytest.mark.parametrize("service", SERVICES)
def test_dev_lock_includes_the_service_lock_pins(service: str) -> None:
    pins = {
        line.strip()
        for line in (ROOT / "requirements" / f"{service}.lock").read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }
    dev = (ROOT / "requirements" / "dev.lock").read_text()
    assert [pin for pin in pins if pin not in dev] == []
