"""`python -m chat_api`: migrate (when configured), then serve HTTP with uvicorn until SIGTERM/SIGINT.

On SIGTERM uvicorn stops accepting connections, lets open requests and streams finish within
`CHAT_API_SHUTDOWN_GRACE_SECONDS`, cancels what is left, stops the app's clients, and the process
exits 0.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import signal
import sys

import uvicorn

from chat_api.core.config import Settings
from chat_api.jobs.migrate import DatabaseUnreachable, apply_migrations
from chat_api.main import create_app
from switchyard_common.entrypoint import run_service
from switchyard_common.logs import configure_logging

logger = logging.getLogger("chat_api")


def run() -> None:
    settings = Settings()  # type: ignore[call-arg]  # pydantic-settings fills required fields from env
    configure_logging("chat-api", settings.log_level)
    if settings.migrate_on_start:
        apply_migrations(settings.database_url.get_secret_value())
    app = create_app(settings)
    _survive_the_stop_signal()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        # Our JSON, redacting root handler gets uvicorn's records too.
        log_config=None,
        # uvicorn's access line carries the query string; the app writes its own, without one.
        access_log=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),  # uvicorn takes whole seconds
        # The C parser and loop cost less CPU per request; grpc.aio runs on uvloop as well.
        http="httptools" if _importable("httptools") else "h11",
        loop="uvloop" if _importable("uvloop") else "asyncio",
    )
    logger.info("chat-api stopped")


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _survive_the_stop_signal() -> None:
    # After a graceful shutdown uvicorn raises the signal that stopped it again, under the handler
    # that was there before it; the default one would turn a clean stop into exit code -15 (SIGTERM)
    # or a KeyboardInterrupt traceback (Ctrl-C). Set just before serving, so migrations stay
    # interruptible.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: None)


def main() -> int:
    return run_service("chat-api", "CHAT_API_", run, clean_errors=(DatabaseUnreachable,))


if __name__ == "__main__":
    sys.exit(main())
