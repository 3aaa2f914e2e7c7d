"""Request ids, access logs, Prometheus metrics and CORS (skeleton; filled in with Operations)."""

from __future__ import annotations

from fastapi import FastAPI

from chat_api.core.config import Settings

__all__ = ["install_observability"]


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Add the middleware and the /metrics route."""
