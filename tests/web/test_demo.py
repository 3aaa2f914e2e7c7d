"""Under `make dev`, what the demo provider serves is labelled "demo": in the model picker and in
the badge under the answer (beside the key source, which stays "platform" or "your key")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from router.catalog import load_catalog
from switchyard_dev.provider_sim import ProviderSimulator
from tests.conftest import RunningKeyVault
from tests.support.chat_api import provider_key
from tests.support.demo_stack import demo_chat_api_stack
from tests.support.keyvault import TestPki
from tests.support.nats_server import NatsServer
from tests.web.browser import WebApp, web_app

CATALOG = load_catalog()
DEMO_MODEL = CATALOG.for_provider("anthropic")[0]
REAL_MODEL = CATALOG.for_provider("openai")[0]


@pytest.fixture
async def demo_web(
    database_url: str,
    test_pki: TestPki,
    keyvault: RunningKeyVault,
    nats_server: NatsServer,
    provider_sim: ProviderSimulator,
    tmp_path: Path,
) -> AsyncIterator[WebApp]:
    async with (
        demo_chat_api_stack(
            demo_providers="anthropic",
            database_url=database_url,
            pki=test_pki,
            keyvault_port=keyvault.port,
            nats=nats_server,
            sim=provider_sim,
        ) as stack,
        web_app(stack.base_url, tmp_path / "chromium-profile") as app,
    ):
        yield app


async def test_the_picker_and_the_badge_say_demo(demo_web: WebApp) -> None:
    page = demo_web.page
    await demo_web.sign_up("demo@example.com")
    picker = page.get_by_label("Model")
    await expect(picker.locator(f'option[value="{DEMO_MODEL.id}"]')).to_have_text(
        f"{DEMO_MODEL.display_name} (demo)"
    )
    await expect(picker.locator(f'option[value="{REAL_MODEL.id}"]')).to_have_text(REAL_MODEL.display_name)

    await demo_web.pick_model(DEMO_MODEL.id)
    answer = await demo_web.send("hello demo")
    await expect(answer.locator(".content")).to_have_text("echo: hello demo")
    await expect(answer.locator(".badge-access")).to_have_text("platform")
    await expect(answer.locator(".badge-demo")).to_have_text("demo")
    await expect(answer.locator(".badge")).to_have_attribute(
        "title", "Anthropic via platform (demo provider)"
    )
    await demo_web.screenshot("chat-demo")

    await demo_web.pick_model(REAL_MODEL.id)
    real = await demo_web.send("and the other one")
    await expect(real.locator(".badge-access")).to_have_text("platform")
    await expect(real.locator(".badge-demo")).to_have_count(0)


async def test_your_key_on_the_demo_is_your_key_answered_by_the_demo(demo_web: WebApp) -> None:
    page = demo_web.page
    await demo_web.sign_up("demo-key@example.com")
    await demo_web.go("Settings")
    await demo_web.add_key("anthropic", "Anthropic", provider_key("anthropic"))
    await expect(demo_web.key_row("anthropic").locator(".pill")).to_have_text("Active")
    await demo_web.go("Chat")
    await demo_web.pick_model(DEMO_MODEL.id)
    answer = await demo_web.send("on my key")
    await expect(answer.locator(".badge-access")).to_have_text("your key")
    await expect(answer.locator(".badge-demo")).to_have_text("demo")
    await expect(page.locator("article.message.assistant")).to_have_count(1)
