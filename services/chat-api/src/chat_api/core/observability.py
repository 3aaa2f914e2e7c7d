"""Request ids, access logs, Prometheus metrics and CORS (skeleton; filled in with Operations)."""

from __future__ import annotations

import contextvars
import uuid

from fastapi import FastAPI

from chat_api.core.config import Settings

__all__ = ["current_request_id", "install_observability"]

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def current_request_id() -> str:
    """This request's id (from `X-Request-ID` or generated); a fresh one outside a request."""
    return _request_id.get() or uuid.uuid4().hex


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Add the middleware and the /metrics route."""
