"""The OpenAPI document: every error a route can answer is documented with its body's schema.

Routes declare their own problems (`responses=problems(404, 409)`); the ones every route shares —
a bad token, invalid input, a body over the size limit, a database outage — are added here, in the
shape the route answers in (problem+json, or OpenAI's error on the OpenAI-compatible routes).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = [
    "OPENAI_PATHS",
    "PROBLEM_MEDIA_TYPE",
    "install_openapi",
    "openai_errors",
    "problems",
    "sse_event_schema",
    "sse_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
OPENAI_PATHS = frozenset({"/v1/chat/completions", "/v1/models"})

_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, expired or revoked token",
    403: "Not allowed",
    404: "Not found (or not visible to the caller)",
    409: "Conflict",
    413: "Request body too large",
    422: "Invalid request, or a key the provider refused",
    429: "Rate limited (Retry-After), or the platform quota is spent",
    502: "The provider could not be reached",
    503: "A backing service is unavailable; retry",
}

_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `type` is https://switchyard.dev/problems/<slug>",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}},
            },
        },
    },
}

_OPENAI_ERROR_SCHEMA: dict[str, Any] = {
    "title": "OpenAIError",
    "description": "OpenAI's error shape; `code` is the problem slug with underscores",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}


def _response(status: int, media_type: str, component: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {media_type: {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that answers these statuses as problem+json."""
    return {status: _response(status, PROBLEM_MEDIA_TYPE, "Problem") for status in statuses}


def openai_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for an OpenAI-compatible route that answers these statuses in OpenAI's shape."""
    return {status: _response(status, "application/json", "OpenAIError") for status in statuses}


def sse_event_schema(*names: str) -> dict[str, Any]:
    """The schema of one server-sent event: its name (one of `names`, if given) and its data line."""
    event: dict[str, Any] = {"type": "string", "enum": list(names)} if names else {"type": "string"}
    return {
        "type": "object",
        "required": ["data", *(["event"] if names else [])],
        "properties": {"event": event, "data": {"type": "string"}},
    }


def sse_response(description: str, *names: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answered as a `text/event-stream` of events named `names`."""
    content = {"text/event-stream": {"schema": sse_event_schema(*names)}}
    return {200: {"description": description, "content": content}}


def _shared_statuses(path: str, operation: dict[str, Any]) -> list[int]:
    statuses = [] if path == "/healthz" else [503]
    if operation.get("security"):
        statuses.append(401)
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append(400 if path in OPENAI_PATHS else 422)
    if operation.get("requestBody"):
        # 400 also answers a body that is not JSON at all.
        statuses.extend([400, 413])
    return statuses


def _document_shared_errors(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for operation in item.values():
            responses: dict[str, Any] = operation["responses"]
            # FastAPI's own 422 describes its default body, which the problem handlers replace.
            if "HTTPValidationError" in str(responses.get("422")):
                del responses["422"]
            declared = {str(status) for status in responses}
            shared = _shared_statuses(path, operation)
            errors = openai_errors(*shared) if path in OPENAI_PATHS else problems(*shared)
            for status, response in errors.items():
                if str(status) not in declared:
                    responses[str(status)] = response


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` with one that documents the errors every route shares."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"], schemas["OpenAIError"] = _PROBLEM_SCHEMA, _OPENAI_ERROR_SCHEMA
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            _document_shared_errors(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
