"""`python -m chat_api`: migrate (when configured), then serve HTTP with uvicorn until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import sys

import uvicorn
from sqlalchemy.exc import OperationalError

from chat_api.core.config import Settings
from chat_api.core.migrations import upgrade_head
from chat_api.main import create_app
from switchyard_common.entrypoint import run_service
from switchyard_common.logs import configure_logging

logger = logging.getLogger("chat_api")


class DatabaseUnreachable(Exception):
    """Start-up could not reach the database; the message names no URL, so no password leaks."""


def run() -> None:
    settings = Settings()  # type: ignore[call-arg]  # pydantic-settings fills required fields from env
    configure_logging("chat-api", settings.log_level)
    if settings.migrate_on_start:
        logger.info("applying database migrations")
        try:
            upgrade_head(settings.database_url.get_secret_value())
        except OperationalError as exc:
            raise DatabaseUnreachable(
                f"cannot migrate: database unreachable ({type(exc.orig).__name__})"
            ) from None
    # log_config=None: uvicorn's records go through our JSON, redacting root handler too.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


def main() -> int:
    return run_service("chat-api", "CHAT_API_", run, clean_errors=(DatabaseUnreachable,))


if __name__ == "__main__":
    sys.exit(main())
