"""Serves the web app's static files under /app/ (no build step) and sends `/` there.

One module is not a file: `js/registry.js` is written from switchyard_common.providers, so the web app
lists exactly the providers, names and key placeholders that the router and chat-api use."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from switchyard_common.providers import PROVIDERS

__all__ = ["APP_PATH", "STATIC_DIR", "install_web_app"]

APP_PATH = "/app"
STATIC_DIR = Path(__file__).parent / "static"

# Everything comes from this origin: no inline script, no CDN; the Markdown renderer builds DOM
# nodes, and this policy is the second line of defence should an answer ever smuggle markup in.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on every load, so a release is picked up at once (the files are small).
    "Cache-Control": "no-cache",
}


class WebAppFiles(StaticFiles):
    """StaticFiles with the app's security headers on every response."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_SECURITY_HEADERS)
        return response


def registry_module() -> str:
    """The providers as an ES module, in the order Settings lists them."""
    providers = [
        {"id": p.id, "name": p.display_name, "placeholder": p.key_placeholder} for p in PROVIDERS.values()
    ]
    header = "// Written by chat-api from switchyard_common.providers.\n"
    return f"{header}export const PROVIDERS = {json.dumps(providers)};\n"


def install_web_app(app: FastAPI) -> None:
    """Mount the web app at /app/ and redirect `/` to it; neither is part of the OpenAPI document."""

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{APP_PATH}/", status_code=307)

    registry = registry_module()

    @app.get(f"{APP_PATH}/js/registry.js", include_in_schema=False)
    def provider_registry() -> Response:
        return Response(registry, media_type="text/javascript", headers=_SECURITY_HEADERS)

    app.mount(APP_PATH, WebAppFiles(directory=STATIC_DIR, html=True), name="web")
