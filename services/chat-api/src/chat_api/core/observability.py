"""Request ids, access logs, Prometheus metrics and CORS.

One pure ASGI middleware does the per-request work: BaseHTTPMiddleware would run every request
through an extra task and memory stream, which costs CPU and gets in the way of streamed answers.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat_api.core.config import Settings
from chat_api.core.problems import problem_response
from switchyard_common.logs import request_id_var

__all__ = ["REQUEST_ID_HEADER", "UNMATCHED", "HttpMetrics", "current_request_id", "install_observability"]

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED = "unmatched"  # the route label of a request no route matched (404s, CORS preflights)
# An incoming id is echoed in a header and in logs, so only a short, plain one is trusted.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# The method is client input too: an unusual one becomes one label value, not a new series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes come every few seconds; at INFO their lines would drown the rest.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
# Up to the router's whole-answer deadline: a streamed answer is timed to its last byte.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", REQUEST_ID_HEADER, "X-Switchyard-Org"]
_CORS_EXPOSED = [
    REQUEST_ID_HEADER,
    "X-Switchyard-Provider",
    "X-Switchyard-Model",
    "X-Switchyard-Key-Source",
    "Retry-After",
]

access_log = logging.getLogger("chat_api.access")


def current_request_id() -> str:
    """This request's id (from `X-Request-ID` or generated); a fresh one outside a request."""
    return request_id_var.get() or uuid.uuid4().hex


class HttpMetrics:
    """chat-api's instruments, in a registry of their own so that many apps can share a process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "chat_api_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "chat_api_http_request_duration_seconds",
            "Time from request to the last byte of the response.",
            ["method", "route"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.open_streams = Gauge(
            "chat_api_open_streams", "Responses being streamed right now.", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Exchange:
    """One request's view of its response: tags the start with the request id, notes status and streaming."""

    def __init__(self, request_id: str, send: Send, metrics: HttpMetrics) -> None:
        self._request_id = request_id
        self._send = send
        self._metrics = metrics
        self.status = 500  # until a response starts: an exception before then is a server error
        self.started = False
        self.streaming = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = int(message["status"])
            MutableHeaders(scope=message)[REQUEST_ID_HEADER] = self._request_id
        elif message["type"] == "http.response.body" and message.get("more_body") and not self.streaming:
            self.streaming = True
            self._metrics.open_streams.inc()
        await self._send(message)

    async def send_internal_error(self, scope: Scope, receive: Receive) -> None:
        response = problem_response(500, "internal", "Internal error", "internal error")
        await response(scope, receive, self.send)

    def finish(self) -> None:
        if self.streaming:
            self._metrics.open_streams.dec()


class ObservabilityMiddleware:
    """Request id in, request id out; one access line and one observation per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id_of(scope)
        token = request_id_var.set(request_id)
        exchange = _Exchange(request_id, send, self.metrics)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, exchange.send)
        except Exception:
            # Starlette's outermost error handler would answer without our header; answer first.
            if not exchange.started:
                await exchange.send_internal_error(scope, receive)
            raise
        finally:
            exchange.finish()
            self._record(scope, exchange.status, time.perf_counter() - started, request_id)
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "other"
        # Routing fills scope["route"] in place; its template keeps ids and unknown paths out of labels.
        # The template carries its router's own prefix: main.py includes routers without adding one.
        route = getattr(scope.get("route"), "path_format", None) or UNMATCHED
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.duration.labels(method, route).observe(seconds)
        level = logging.DEBUG if route in _QUIET_ROUTES and status < 400 else logging.INFO
        access_log.log(
            level,
            "%s %s %s %.1f ms",
            method,
            route,
            status,
            seconds * 1000,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "request_id": request_id,
            },
        )


def _request_id_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Add CORS (when origins are configured), the request middleware and the /metrics route."""
    metrics = HttpMetrics()
    app.state.metrics = metrics
    if settings.cors_origins:
        # Bearer tokens, not cookies: credentials stay off, so no origin can ride a user's session.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=_CORS_METHODS,
            allow_headers=_CORS_HEADERS,
            expose_headers=_CORS_EXPOSED,
            max_age=600,
        )
    # Added last, so it is outermost: CORS answers and preflights get an id and are counted too.
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)

    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", prometheus_metrics, methods=["GET"], include_in_schema=False)
