"""Org owners and admins: the org's keys and policy in Settings → Organisation, and what members see."""

from __future__ import annotations

from playwright.async_api import expect

from tests.chat_api.chat_helpers import OPENAI_MODEL
from tests.support.chat_api import ChatApiStack, provider_key
from tests.web.browser import WebApp


async def test_org_keys_and_policy(web: WebApp, stack: ChatApiStack) -> None:
    page = web.page
    await web.sign_up("owner@example.com")
    await web.go("Settings")
    await page.get_by_role("link", name="Organisation").click()
    await page.get_by_label("Organisation name").fill("Acme")
    await page.get_by_role("button", name="Create organisation").click()

    await expect(page.get_by_role("heading", name="Acme: API keys")).to_be_visible()
    org_key = provider_key("openai")
    await web.add_key("openai", "OpenAI", org_key, verify=False)
    await expect(web.key_row("openai").locator(".pill")).to_have_text("Active")
    policy = page.locator("form.policy-form")
    await policy.get_by_label("Anthropic: forbid platform access").check()
    await policy.get_by_role("button", name="Save policy").click()
    await expect(page.locator(".toast").last).to_have_text("Policy saved.")
    await web.screenshot("settings-org")

    # The owner's own key page reflects the org: its OpenAI key, no platform access to Anthropic.
    await page.get_by_role("link", name="API keys").click()
    await expect(web.key_row("openai")).to_contain_text("Using your org's key")
    await expect(web.key_row("anthropic")).to_contain_text("No access")
    await expect(web.key_row("google")).to_contain_text("Using platform access")

    await web.go("Chat")
    await web.pick_model(OPENAI_MODEL)
    answer = await web.send("on the org's key")
    await expect(answer.locator(".badge-access")).to_have_text("org key")
    assert stack.sim.keys_seen("openai") == {org_key}
