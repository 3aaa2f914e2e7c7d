"""`python -m chat_api.jobs.migrate`: bring the database to the newest schema, then exit (the Kubernetes
migration Job). Reads only CHAT_API_DATABASE_URL; the URL never appears in its output."""

from __future__ import annotations

import logging
import sys

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import OperationalError

from chat_api.core.migrations import upgrade_head
from switchyard_common.entrypoint import run_service
from switchyard_common.logs import configure_logging

__all__ = ["DatabaseUnreachable", "MigrationSettings", "apply_migrations", "main"]

logger = logging.getLogger("chat_api.jobs.migrate")


class MigrationSettings(BaseSettings):
    """A subset of chat-api's settings: the job needs no certificates, NATS or router."""

    model_config = SettingsConfigDict(env_prefix="CHAT_API_", extra="ignore")

    database_url: SecretStr
    log_level: str = "INFO"


class DatabaseUnreachable(Exception):
    """The database did not answer; the message names no URL, so no password leaks."""


def apply_migrations(database_url: str) -> None:
    """Bring the schema to the newest revision; DatabaseUnreachable (naming no URL) if it can't."""
    logger.info("applying database migrations")
    try:
        upgrade_head(database_url)
    except OperationalError as exc:
        raise DatabaseUnreachable(
            f"cannot migrate: database unreachable ({type(exc.orig).__name__})"
        ) from None


def run() -> None:
    settings = MigrationSettings()  # type: ignore[call-arg]  # pydantic-settings fills it from env
    configure_logging("chat-api-migrate", settings.log_level)
    apply_migrations(settings.database_url.get_secret_value())
    logger.info("database schema is at the newest revision")


def main() -> int:
    return run_service("chat-api-migrate", "CHAT_API_", run, clean_errors=(DatabaseUnreachable,))


if __name__ == "__main__":
    sys.exit(main())
