"""The composition root: `create_app(settings)` builds the engine, the clients and the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chat_api.accounts.tokens import tokens_routes
from chat_api.accounts.views import auth_routes
from chat_api.api.health import health_routes
from chat_api.chat.views import conversations_routes
from chat_api.core.config import Settings
from chat_api.core.db import make_engine, make_sessionmaker
from chat_api.core.observability import install_observability
from chat_api.core.openapi import install_openapi
from chat_api.core.problems import install_problem_handlers
from chat_api.core.services import build_services
from chat_api.credentials.views import keys_routes, org_keys_routes
from chat_api.limits.body_size import BodySizeLimit
from chat_api.limits.rate import RateLimits
from chat_api.openai.views import openai_routes
from chat_api.orgs.views import orgs_routes
from chat_api.usage.views import usage_routes
from chat_api.web.views import install_web_app

__all__ = ["create_app"]


def create_app(settings: Settings) -> FastAPI:
    """A FastAPI app on these settings; clients start with the app and stop at shutdown."""
    engine = make_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        connect_timeout=settings.database_connect_timeout_seconds,
        pool_timeout=settings.database_pool_timeout_seconds,
    )
    sessions = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, engine, sessions)
        app.state.services = services
        services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(title="Switchyard chat-api", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.sessions = sessions
    install_problem_handlers(app)
    app.state.rate_limits = RateLimits.from_settings(settings)
    # Inside the observability middleware, so refused bodies get a request id and are counted.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_body_bytes)
    install_observability(app, settings)
    # The OpenAI routes first: matching walks the routes in order, and theirs are the hot ones.
    for routes in (
        openai_routes,
        health_routes,
        auth_routes,
        tokens_routes,
        orgs_routes,
        keys_routes,
        org_keys_routes,
        conversations_routes,
        usage_routes,
    ):
        app.include_router(routes)
    install_web_app(app)
    install_openapi(app)
    return app
