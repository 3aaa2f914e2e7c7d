"""A pasted provider key is sent once and then gone from the page: not in the DOM, not in any form
field, not in localStorage or sessionStorage, and not in the JavaScript heap."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.chat_api import ChatApiStack, provider_key
from tests.web.browser import WebApp, heap_snapshot, page_text_everywhere


async def test_a_saved_key_is_nowhere_in_the_page(web: WebApp, stack: ChatApiStack) -> None:
    page = web.page
    await web.sign_up("secret@example.com")
    await web.go("Settings")
    rejected, accepted = provider_key("openai"), provider_key("openai")
    stack.sim.set_valid_keys("openai", [accepted])

    # A key the provider refuses: the human message, nothing saved, and the field already empty.
    await web.add_key("openai", "OpenAI", rejected, verify=True)
    row = web.key_row("openai")
    alert = row.get_by_role("alert")
    await expect(alert).to_contain_text("OpenAI rejected this key, so it was not saved")
    await expect(row.get_by_label("OpenAI API key")).to_have_value("")
    await expect(row.locator(".pill")).to_have_text("Using platform access")
    await web.screenshot("settings-key-form")

    # The accepted key is saved with "verify before saving" and the fallback switch on.
    await web.add_key("openai", "OpenAI", accepted, verify=True, fallback=True)
    await expect(row.locator(".pill")).to_have_text("Active")
    await expect(row).to_contain_text("Falls back to platform access")
    assert stack.sim.keys_seen("openai") == {rejected, accepted}  # the two verifications
    await row.get_by_role("button", name="Verify").click()
    await expect(row.locator(".row-message")).to_have_text("Verified: the provider accepted this key.")

    # A control: a string the page does hold (built in the page, never sent as such) is found.
    control = provider_key("openai")
    await page.evaluate("(s) => { window.heldForTest = [...s].reverse().join(''); }", control[::-1])
    everything = await page_text_everywhere(page)
    heap = await heap_snapshot(page.context, page)
    assert control[8:40] in heap
    for key in (rejected, accepted):
        assert key not in everything
        # Not even a distinctive piece of it (the hint shows the last four characters only).
        assert key[8:40] not in everything
        assert key[8:40] not in heap, "the key is still referenced by the page's JavaScript"
    assert await page.evaluate("() => localStorage.length + sessionStorage.length") >= 1  # the session
    assert "switchyard.session" in everything
