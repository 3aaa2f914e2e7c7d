"""chat-api serves the web app itself: `/` → /app/, local files only, with a strict CSP."""

from __future__ import annotations

import glob
import json
import re
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from chat_api.core.config import Settings
from chat_api.main import create_app
from chat_api.web.views import STATIC_DIR
from switchyard_common.providers import PROVIDERS
from tests.support.chat_api import UNUSED_DATABASE_URL

PYPROJECT = Path(__file__).resolve().parents[2] / "services" / "chat-api" / "pyproject.toml"


@pytest.fixture
def http(tmp_path: Path) -> TestClient:
    # Static files need no database or router: the app's lifespan is not started.
    tls = {f"tls_{name}_file": tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    settings = Settings(database_url=SecretStr(UNUSED_DATABASE_URL), **tls)  # type: ignore[arg-type]
    return TestClient(create_app(settings))


def static_files() -> list[Path]:
    return sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())


def test_root_redirects_to_the_app_and_the_app_is_served(http: TestClient) -> None:
    root = http.get("/", follow_redirects=False)
    assert root.status_code == 307
    assert root.headers["location"] == "/app/"
    page = http.get("/app/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/app.js"></script>' in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "/app/" not in http.get("/openapi.json").json()["paths"]


def test_every_file_is_served_as_what_it_is(http: TestClient) -> None:
    types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
    for path in static_files():
        response = http.get(f"/app/{path.relative_to(STATIC_DIR).as_posix()}")
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(types[path.suffix]), path


def test_nothing_is_loaded_from_another_origin() -> None:
    for path in static_files():
        text = path.read_text()
        assert not re.search(r"""(src|href)=["'](https?:)?//""", text), path
        assert not re.search(r"""(from|import\()\s*["'](https?:)?//""", text), path
        assert not re.search(r"@import\s+url\(\s*[\"']?(https?:)?//", text), path


def test_the_package_ships_every_static_file() -> None:
    """package-data's globs, expanded as setuptools does (recursive `**`), cover the whole directory."""
    globs = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["chat_api"]
    package = STATIC_DIR.parent.parent
    shipped = {
        Path(found) for pattern in globs for found in glob.glob(str(package / pattern), recursive=True)
    }
    assert set(static_files()) <= shipped


def test_the_web_app_lists_the_providers_of_the_registry(http: TestClient) -> None:
    response = http.get("/app/js/registry.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["content-security-policy"] == http.get("/app/").headers["content-security-policy"]
    prefix, _, rest = response.text.partition("export const PROVIDERS = ")
    assert prefix.startswith("//")
    listed = json.loads(rest.removesuffix(";\n"))
    assert listed == [
        {"id": p.id, "name": p.display_name, "placeholder": p.key_placeholder} for p in PROVIDERS.values()
    ]
    assert [p["id"] for p in listed][:3] == ["openai", "anthropic", "google"]
    # The static module imports it rather than keeping a list of its own.
    providers_js = (STATIC_DIR / "js" / "providers.js").read_text()
    assert 'import { PROVIDERS } from "./registry.js";' in providers_js
    assert "placeholder:" not in providers_js
