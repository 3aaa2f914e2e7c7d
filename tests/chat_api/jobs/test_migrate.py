"""`python -m chat_api.jobs.migrate`, the Kubernetes migration Job: migrates an empty database to the
newest revision and exits 0; an unreachable database is one line with no URL or password."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from chat_api.core.migrations import alembic_config
from tests.support.postgres import sqlalchemy_url
from tests.support.processes import environ_without, run_python


def test_migrates_an_empty_database_to_head(postgres_url: str) -> None:
    url = sqlalchemy_url(postgres_url)
    result = run_python(
        "-m",
        "chat_api.jobs.migrate",
        env={**environ_without("CHAT_API_"), "CHAT_API_DATABASE_URL": url},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    engine = create_engine(url)
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert version == ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_unreachable_database_is_one_clear_line_without_the_password() -> None:
    url = "postgresql+psycopg://switchyard:a-password-7c1e@127.0.0.1:1/switchyard"
    result = run_python(
        "-m",
        "chat_api.jobs.migrate",
        env={**environ_without("CHAT_API_"), "CHAT_API_DATABASE_URL": url},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "chat-api-migrate: cannot migrate: database unreachable (OperationalError)"
    )
    assert "a-password-7c1e" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
