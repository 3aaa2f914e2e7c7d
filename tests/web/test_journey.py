"""The issue's story in a real browser: sign up, add an OpenAI key, chat on it, chat on platform
access, revoke through the confirmation dialog, chat again on platform access, read the usage."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.chat_api.chat_helpers import ANTHROPIC_MODEL, OPENAI_MODEL
from tests.support.chat_api import ChatApiStack, provider_key
from tests.support.router import PLATFORM_KEYS
from tests.web.browser import WebApp


async def test_byok_story_from_signup_to_usage(web: WebApp, stack: ChatApiStack) -> None:
    page = web.page
    await web.sign_up("story@example.com")
    await web.screenshot("chat-empty")

    # Settings → API keys: nine providers; without a key, platform access where the router has it.
    await web.go("Settings")
    await expect(page.locator(".key-row")).to_have_count(9)
    await expect(web.key_row("anthropic")).to_contain_text("Using platform access")
    await expect(web.key_row("mistral")).to_contain_text("No access")
    user_key = provider_key("openai")
    await web.add_key("openai", "OpenAI", user_key)
    openai_row = web.key_row("openai")
    await expect(openai_row.locator(".pill")).to_have_text("Active")
    await expect(openai_row).to_contain_text("my OpenAI key")
    await expect(openai_row.locator("code.hint")).to_contain_text(user_key[-4:])
    await expect(openai_row).to_contain_text("Last used")
    await web.screenshot("settings-keys")

    # An OpenAI model answers on the user's key: the badge says so, and so does the simulator.
    await web.go("Chat")
    await web.pick_model(OPENAI_MODEL)
    answer = await web.send("Say **hello** with `code`")
    await expect(answer.locator(".content")).to_contain_text("echo: Say hello with code")
    await expect(answer.locator(".content strong")).to_have_text("hello")
    await expect(answer.locator(".badge")).to_contain_text("GPT-5.4 mini")
    await expect(answer.locator(".badge-access")).to_have_text("your key")
    assert stack.sim.keys_seen("openai") == {user_key}

    # An Anthropic model, with no key of the user's: platform access.
    await web.pick_model(ANTHROPIC_MODEL)
    answer = await web.send("and now Anthropic")
    await expect(answer.locator(".badge-access")).to_have_text("platform")
    assert stack.sim.keys_seen("anthropic") == {PLATFORM_KEYS["anthropic"]}
    await web.screenshot("chat")
    await page.emulate_media(color_scheme="dark")  # prefers-color-scheme: dark
    await web.screenshot("chat-dark")
    dark = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    await page.emulate_media(color_scheme="light")
    assert dark != await page.evaluate("() => getComputedStyle(document.body).backgroundColor")

    # Revoke through the confirmation dialog; Cancel first leaves the key alone.
    await web.go("Settings")
    await openai_row.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog", name="Revoke the OpenAI key?")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await page.keyboard.press("Escape")  # the dialog is keyboard-usable: Escape cancels
    await expect(dialog).to_be_hidden()
    await expect(openai_row.locator(".pill")).to_have_text("Active")
    await openai_row.get_by_role("button", name="Revoke").click()
    await dialog.get_by_role("button", name="Revoke key").click()
    await expect(openai_row).to_contain_text("Using platform access")
    await expect(openai_row.locator("code.hint")).to_have_count(0)

    # The same OpenAI model now answers on platform access.
    await web.go("Chat")
    await page.get_by_role("link", name="Say **hello** with `code`").click()
    await expect(page.locator("article.message.assistant")).to_have_count(2)
    await web.pick_model(OPENAI_MODEL)
    answer = await web.send("after revoking")
    await expect(answer.locator(".badge-access")).to_have_text("platform")
    assert stack.sim.keys_seen("openai") == {user_key, PLATFORM_KEYS["openai"]}

    # Usage shows both providers and both kinds of access.
    await web.go("Usage")
    providers = page.locator("#usage-providers")
    await expect(providers.locator('tr[data-key="openai"]')).to_contain_text("2")
    await expect(providers.locator('tr[data-key="anthropic"]')).to_contain_text("1")
    access = page.locator("#usage-access")
    await expect(access.locator('tr[data-key="user"]')).to_contain_text("your key")
    await expect(access.locator('tr[data-key="platform"]')).to_contain_text("platform")
    await expect(access.locator('tr[data-key="platform"] td').first).to_have_text("2")
    await expect(access.locator('tr[data-key="user"] td').first).to_have_text("1")
    await expect(providers.locator("svg.chart-bar rect")).to_have_count(4)  # input + output, per provider
    await expect(providers.get_by_role("img")).to_have_attribute("aria-label", re.compile("OpenAI: [1-9]"))
    await expect(page.locator("[data-quota-remaining]")).to_be_visible()
    async with page.expect_response(lambda r: "/v1/usage?" in r.url and "from=" in r.url) as last_week:
        await page.get_by_label("Period").select_option("7")  # another period: today is in it too
    assert (await last_week.value).ok
    await expect(providers.locator('tr[data-key="openai"] td').first).to_have_text("2")
    await web.screenshot("usage")
