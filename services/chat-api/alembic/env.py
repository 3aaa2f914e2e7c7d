"""Alembic environment: the URL comes from the caller (chat_api.core.migrations) or from Settings."""

from __future__ import annotations

from alembic import context

from chat_api.core.db import make_engine
from chat_api.models import Base


def _database_url() -> str:
    url = context.config.attributes.get("database_url")
    if url:
        return str(url)
    from chat_api.core.config import Settings  # only the CLI path reads the environment

    return Settings().database_url.get_secret_value()


def run_migrations() -> None:
    engine = make_engine(_database_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
