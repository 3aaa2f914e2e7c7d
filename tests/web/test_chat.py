"""Chat in the browser: streamed Markdown with code blocks, stop and retry, the conversation list,
and the session: log out, wrong password, log in again."""

from __future__ import annotations

from playwright.async_api import expect

from tests.chat_api.chat_helpers import OPENAI_MODEL
from tests.support.chat_api import ChatApiStack
from tests.web.browser import PHONE, WebApp

CODE_PROMPT = "here:\n```python\nprint('<b>hi</b>')\n```\nand a [link](https://example.com/docs)"


async def test_streaming_stop_retry_and_markdown(web: WebApp, stack: ChatApiStack) -> None:
    page = web.page
    await web.sign_up("chat@example.com")
    await web.pick_model(OPENAI_MODEL)

    # Markdown: a fenced code block (its markup shown as text, never parsed) and a safe link.
    answer = await web.send(CODE_PROMPT)
    code = answer.locator(".codeblock pre code.language-python")
    await expect(code).to_have_text("print('<b>hi</b>')")
    await expect(answer.locator(".content b")).to_have_count(0)
    link = answer.get_by_role("link", name="link")
    await expect(link).to_have_attribute("href", "https://example.com/docs")
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    await expect(answer.locator(".badge-access")).to_have_text("platform")

    # A slow stream shows text as it arrives; Stop ends it, Retry asks again.
    stack.sim.fail_next("openai", paced_stream_interval=0.3)
    words = " ".join(f"word{i}" for i in range(30))
    await page.get_by_label("Message", exact=True).fill(words)
    await page.keyboard.press("Enter")  # Enter sends (Shift+Enter would add a line)
    streaming = page.locator("article.message.assistant").last
    await expect(streaming.locator(".content")).to_contain_text("word1")
    await expect(streaming.locator(".badge-access")).to_have_text("platform")  # `route` came first
    await page.get_by_role("button", name="Stop").click()
    await expect(streaming).to_have_attribute("aria-busy", "false")
    await expect(streaming.locator(".answer-status")).to_have_text("Stopped.")
    await expect(streaming.locator(".content")).not_to_contain_text("word29")
    await expect(page.get_by_role("button", name="Send")).to_be_visible()
    await streaming.get_by_role("button", name="Retry").click()
    retried = page.locator("article.message.assistant").last
    await expect(retried.locator(".content")).to_have_text(f"echo: {words}")
    await expect(page.locator("article.message.assistant")).to_have_count(2)

    # The conversation is listed under its first line and reopens with its answers and badges; on
    # a phone the list opens from the "Chats" button.
    await web.new_chat()
    await expect(page.locator(".empty")).to_be_visible()
    await page.set_viewport_size(PHONE)
    await expect(page.get_by_role("link", name="here:")).to_be_hidden()
    chats = page.get_by_role("button", name="Chats")
    await chats.click()
    await expect(chats).to_have_attribute("aria-expanded", "true")
    await page.get_by_role("link", name="here:").click()
    await expect(page.locator("article.message.assistant .badge-access").first).to_have_text("platform")
    await expect(page.locator(".codeblock")).to_have_count(1)


async def test_log_out_and_back_in(web: WebApp) -> None:
    page = web.page
    await web.open("/")
    await expect(page).to_have_url(web.base_url + "/app/#/login")
    await web.screenshot("login")
    await web.sign_up("session@example.com")
    assert await page.evaluate("() => localStorage.getItem('switchyard.session')") is None
    assert await page.evaluate("() => sessionStorage.getItem('switchyard.session')")

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert await page.evaluate("() => sessionStorage.getItem('switchyard.session')") is None
    await web.open("/app/#/settings/keys")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    await web.log_in("session@example.com", "not the password")
    await expect(page.get_by_role("alert")).to_have_text("That email and password don't match an account.")
    await web.log_in("session@example.com")
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()
    await expect(page.locator("#account-email")).to_have_text("session@example.com")

    # Signing up twice with one email says what to do instead.
    await page.get_by_role("button", name="Log out").click()
    await page.get_by_role("link", name="Create an account").click()
    await page.get_by_label("Email").fill("session@example.com")
    await page.get_by_label("Password").fill("another long password")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "An account with this email already exists. Log in instead."
    )
    await web.screenshot("signup-error")
