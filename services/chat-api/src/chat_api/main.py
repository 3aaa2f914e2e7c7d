"""The composition root: `create_app(settings)` builds the engine, sessions and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chat_api.accounts.views import router as auth_router
from chat_api.api.health import router as health_router
from chat_api.core.config import Settings
from chat_api.core.db import make_engine, make_sessionmaker
from chat_api.core.problems import install_problem_handlers

__all__ = ["create_app"]


def create_app(settings: Settings) -> FastAPI:
    """A FastAPI app on this settings' database; the engine is disposed at shutdown."""
    engine = make_engine(settings.database_url.get_secret_value())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(title="Switchyard chat-api", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.sessions = make_sessionmaker(engine)
    install_problem_handlers(app)
    app.include_router(health_router)
    app.include_router(auth_router)
    return app
