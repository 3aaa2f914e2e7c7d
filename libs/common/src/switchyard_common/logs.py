"""Structured JSON logs on stdout for every service."""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from switchyard_common.redaction import RedactingFilter

__all__ = ["RequestIdFilter", "configure_logging", "request_id_var"]

# The id of the request being handled, set by a service's HTTP middleware or gRPC handler wrapper.
# A contextvar, so concurrent requests on one event loop (and their worker threads) keep their own.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "switchyard_request_id", default=None
)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record made while a request is handled; lines outside one have none."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    # On the handler, so it sees every record from every logger, third-party ones included.
    handler.addFilter(RedactingFilter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; keys never go in URLs, but keep it quiet regardless.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
