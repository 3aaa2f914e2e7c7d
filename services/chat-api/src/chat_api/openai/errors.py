"""Errors in OpenAI's shape on the OpenAI-compatible routes, so its SDKs raise their usual exceptions."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from chat_api.core.problems import BadRequest, Problem, Unauthorized, database_problem

__all__ = ["OpenAIRoute", "error_body", "error_response"]

# OpenAI's error `type` by HTTP status; the `code` is the Switchyard problem slug.
_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(problem: Problem) -> dict[str, object]:
    """`{"error": {message, type, param, code}}` for a problem."""
    code = "invalid_api_key" if isinstance(problem, Unauthorized) else problem.slug.replace("-", "_")
    kind = _TYPES.get(problem.status, "api_error" if problem.status >= 500 else "invalid_request_error")
    return {"error": {"message": problem.detail, "type": kind, "param": None, "code": code}}


def error_response(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    extra = dict(headers or {})
    if problem.retry_after is not None:
        extra["Retry-After"] = str(max(1, round(problem.retry_after)))
    return JSONResponse(error_body(problem), status_code=problem.status, headers=extra or None)


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    location = [str(part) for part in first["loc"] if part != "body"]
    param = ".".join(location) or None
    # Location and message only: echoing the input could return whatever was pasted into it.
    message = f"{param}: {first['msg']}" if param else str(first["msg"])
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return JSONResponse(body, status_code=400)


class OpenAIRoute(APIRoute):
    """A route whose failures (authentication and validation included) answer in OpenAI's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as exc:
                return error_response(exc)
            except RequestValidationError as exc:
                return _validation_response(exc)
            except (OperationalError, PoolTimeout):
                return error_response(database_problem())
            except StarletteHTTPException as exc:
                if exc.status_code != 400:
                    raise
                return error_response(BadRequest(str(exc.detail)))

        return handle
