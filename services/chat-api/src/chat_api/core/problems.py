"""RFC 9457 problem+json errors, each with a stable `type` URI."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "PROBLEM_BASE",
    "BadRequest",
    "ChatTooLarge",
    "Conflict",
    "CredentialUnusable",
    "Forbidden",
    "IdempotencyKeyReused",
    "KeyRejected",
    "KeyServiceUnavailable",
    "NoAccess",
    "NotFound",
    "Problem",
    "ProviderBadRequest",
    "ProviderRateLimited",
    "ProviderUnavailable",
    "QuotaExceeded",
    "RateLimited",
    "RouterUnavailable",
    "Unauthorized",
    "Unavailable",
    "UnknownModel",
    "install_problem_handlers",
    "database_problem",
    "problem_response",
]

PROBLEM_BASE = "https://switchyard.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """A failure the user can meet; subclasses fix the status and type."""

    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str, *, retry_after: float | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Unauthorized"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"


class Unavailable(Problem):
    status, slug, title = 503, "unavailable", "Service unavailable"


class BadRequest(Problem):
    status, slug, title = 400, "bad-request", "Bad request"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Forbidden"


class RateLimited(Problem):
    """Switchyard's own per-user limit."""

    status, slug, title = 429, "rate-limited", "Too many requests"


# The failures of a chat or a key check, one stable type each.
class KeyRejected(Problem):
    status, slug, title = 422, "key-rejected", "Key rejected by the provider"


class NoAccess(Problem):
    status, slug, title = 403, "no-access", "No access to this provider"


class KeyServiceUnavailable(Problem):
    status, slug, title = 503, "key-service-unavailable", "Key service unavailable"


class ProviderRateLimited(Problem):
    status, slug, title = 429, "provider-rate-limited", "Rate limited by your provider"


class QuotaExceeded(Problem):
    status, slug, title = 429, "quota-exceeded", "Platform quota exceeded"


class ProviderUnavailable(Problem):
    status, slug, title = 502, "provider-unavailable", "Provider unavailable"


class ProviderBadRequest(Problem):
    status, slug, title = 400, "provider-bad-request", "The provider rejected the request"


class UnknownModel(Problem):
    status, slug, title = 404, "unknown-model", "Unknown model"


def problem_response(
    status: int, slug: str, title: str, detail: str, *, retry_after: float | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers or None)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        exc.status, exc.slug, exc.title, exc.detail, retry_after=exc.retry_after, **exc.extra
    )


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only location and message: echoing `input` could return a submitted password.
    errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return problem_response(422, "validation", "Invalid request", "the request is invalid", errors=errors)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return problem_response(404, NotFound.slug, NotFound.title, "no such resource")
    if exc.status_code == 400:
        # FastAPI's answer to a body that is not JSON at all: an ordinary bad request.
        return problem_response(400, BadRequest.slug, BadRequest.title, str(exc.detail))
    return problem_response(exc.status_code, "http", "HTTP error", str(exc.detail))


def database_problem() -> Problem:
    """What a lost or unreachable database (a dropped pooled connection included) answers."""
    return Unavailable("the database is unavailable right now; try again shortly", retry_after=1)


async def _on_database(request: Request, exc: Exception) -> JSONResponse:
    # The pool has already invalidated a dropped connection, so the next request gets a fresh one.
    return await _on_problem(request, database_problem())


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(OperationalError, _on_database)
    # Every pooled connection busy for the pool's whole wait: as unavailable as a lost database.
    app.add_exception_handler(PoolTimeout, _on_database)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)


# Appended with chat: failures of the router hop itself, stored keys and idempotent retries.
class RouterUnavailable(Problem):
    status, slug, title = 503, "router-unavailable", "Chat routing unavailable"


class CredentialUnusable(Problem):
    status, slug, title = 409, "credential-unusable", "Stored key can no longer be used"


class IdempotencyKeyReused(Problem):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused with a different request"


# Appended with the limits (chat_api.limits): a chat request over the message count or content size.
class ChatTooLarge(Problem):
    status, slug, title = 422, "chat-too-large", "Chat request too large"
