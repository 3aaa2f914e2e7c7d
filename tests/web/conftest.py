"""The web app in a real headless Chromium against the whole in-process stack (chat-api on a real
port, the real router, keyvault, NATS, PostgreSQL and the provider simulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.chat_api.conftest import database_url, stack, stack_with  # noqa: F401 - fixtures
from tests.support.chat_api import ChatApiStack
from tests.web.browser import WebApp, web_app


@pytest.fixture
async def web(stack: ChatApiStack, tmp_path: Path) -> AsyncIterator[WebApp]:  # noqa: F811 - the fixture
    """A fresh browser profile on a fresh stack, one tab open."""
    async with web_app(stack.base_url, tmp_path / "chromium-profile") as app:
        yield app
