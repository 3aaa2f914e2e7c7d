"""The leak sweep's database logs every statement with its parameters, so the sweep can search what
chat-api sent to PostgreSQL as well as what it stored."""

from __future__ import annotations

import pytest

from tests.support.leaks import LogTails, log_every_statement
from tests.support.postgres import server_log
from tests.support.process_fixtures import Database


@pytest.fixture
def postgres_logs() -> LogTails:
    """The run's PostgreSQL server log from before the stack starts (none with an external server)."""
    log = server_log()
    return LogTails(str(log) if log is not None else "")


@pytest.fixture
def database(database: Database, postgres_logs: LogTails) -> Database:
    log_every_statement(database.conninfo)
    return database
