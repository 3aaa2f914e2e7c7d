"""Repository-level contracts: generated code is fresh, dependency lists stay honest."""

from __future__ import annotations

import ast
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


# The `shared/` folder beside this machine's checkout is not in a user's clone (issue 12): code that
# reads it passes here and fails there. Prose (*.md) may say what was copied from it; no other
# tracked file may name it, as a path or as path parts joined in code. ("(?:shared)": so that this
# line does not name it itself.)
SHARED_FOLDER = re.compile(
    r"\.\./shared\b|/work/(?:shared)\b|\bshared/(?:testvectors|bench)\b|[\"']shared[\"']\s*/"
)


@pytest.mark.parametrize(
    ("line", "names_it"),
    # "@" stands for the folder's name, or this file would name it and fail the test below.
    [
        ('HARNESS="${HARNESS:-$ROOT/../@/bench/gateway}"', True),
        ('VECTORS = Path(__file__).parents[3] / "@" / "testvectors"', True),
        ("cat /work/@/STYLE.md", True),
        ("# vectors from @/testvectors/wycheproof", True),
        ("def ring(@_keys_dir: Path) -> KeyRing:", False),
        ('"""One Decrypt @ by every concurrent get() of the same key."""', False),
    ],
)
def test_the_shared_folder_pattern_finds_what_it_must(line: str, names_it: bool) -> None:
    assert bool(SHARED_FOLDER.search(line.replace("@", "shared"))) is names_it


def test_no_tracked_code_names_the_shared_folder() -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    paths = [ROOT / name for name in listed.decode().split("\0") if name]
    assert ROOT / "Makefile" in paths  # the listing is the repository's, not an empty one
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in paths
        if path.suffix != ".md" and path.is_file()  # a tracked file may be deleted in this checkout
        for number, line in enumerate(path.read_bytes().decode("utf-8", "replace").splitlines(), 1)
        if SHARED_FOLDER.search(line)
    ]
    assert offenders == []


def _imported_test_modules(source: str) -> list[str]:
    """Every `test_*` module `source` imports: helpers shared by tests belong in tests/support."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            modules = [base, *(f"{base}.{alias.name}".lstrip(".") for alias in node.names)]
        else:
            continue
        found += [name for name in modules if name.rsplit(".", 1)[-1].startswith("test_")]
    return found


@pytest.mark.parametrize(
    ("source", "imports_a_test"),
    [
        ("from tests.chat_api.test_keys import table_dump", True),
        ("import tests.chat_api.test_keys", True),
        ("from tests.chat_api import test_keys", True),
        ("from .test_keys import eventually", True),
        ("from tests.support.credentials import table_dump", False),
        ("from tests.chat_api.chat_helpers import send", False),
    ],
)
def test_the_test_import_check_finds_what_it_must(source: str, imports_a_test: bool) -> None:
    assert bool(_imported_test_modules(source)) is imports_a_test


def test_no_module_imports_a_test_module() -> None:
    """A test file imports nothing from another: shared helpers live in tests/support."""
    sources = sorted((ROOT / "tests").rglob("*.py"))
    assert ROOT / "tests" / "chat_api" / "test_keys.py" in sources
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sources
        for module in _imported_test_modules(path.read_text())
    ]
    assert offenders == []
