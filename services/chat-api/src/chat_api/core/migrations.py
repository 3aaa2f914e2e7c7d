"""Run the Alembic migrations (services/chat-api/alembic) against a database URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

__all__ = ["ALEMBIC_DIR", "alembic_config", "upgrade_head"]

ALEMBIC_DIR = Path(__file__).resolve().parents[3] / "alembic"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    # Passed as an attribute, not a main option, so ConfigParser never interpolates the password.
    config.attributes["database_url"] = database_url
    return config


def upgrade_head(database_url: str) -> None:
    """Bring the schema to the newest revision."""
    command.upgrade(alembic_config(database_url), "head")
