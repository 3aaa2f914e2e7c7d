"""Every problem type chat-api answers has a human message in the web app, and the chat shows it."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from chat_api.core import problems
from chat_api.limits.body_size import SLUG as PAYLOAD_TOO_LARGE
from tests.chat_api.chat_helpers import ANTHROPIC_MODEL, MISTRAL_MODEL, OPENAI_MODEL
from tests.chat_api.conftest import StackFactory
from tests.conftest import RunningKeyVault
from tests.support.chat_api import ChatApiStack, provider_key
from tests.support.credentials import table_dump
from tests.web.browser import WebApp, web_app

# Answered by handlers rather than Problem subclasses (core/problems.py, core/observability.py).
HANDLER_SLUGS = {"validation", "http", "internal", PAYLOAD_TOO_LARGE}


def problem_slugs() -> set[str]:
    """Every problem type chat-api can answer."""
    found: set[str] = set()
    pending: list[type[problems.Problem]] = [problems.Problem]
    while pending:
        cls = pending.pop()
        found.add(cls.slug)
        pending.extend(cls.__subclasses__())
    return found | HANDLER_SLUGS


async def check_every_problem_type_has_its_own_message(web: WebApp) -> None:
    """js/errors.js, loaded in the page, has a message of its own for every problem type."""
    slugs = sorted(problem_slugs())
    messages: dict[str, str] = await web.page.evaluate(
        """async (slugs) => {
            const { describe } = await import("./js/errors.js");
            const of = (slug) => describe({ slug, problem: { status: 400 } }, { provider: "openai" }).message;
            return Object.fromEntries([...slugs, "something-new"].map((slug) => [slug, of(slug)]));
        }""",
        slugs,
    )
    generic = messages.pop("something-new")
    assert generic == messages["internal"]
    for slug in slugs:
        if slug != "internal":
            assert messages[slug] != generic, f"no message of its own for {slug!r}"
    assert "Switchyard" in messages["key-service-unavailable"]
    assert "OpenAI rejected your API key" in messages["key-rejected"]
    assert "platform quota" in messages["quota-exceeded"]


async def test_chat_errors_read_as_plain_language(web: WebApp, stack: ChatApiStack) -> None:
    page = web.page
    await web.sign_up("errors@example.com")
    await check_every_problem_type_has_its_own_message(web)

    # Mistral: no key of the user's, and the platform has none either.
    await web.pick_model(MISTRAL_MODEL)
    answer = await web.send("hello Mistral")
    message = answer.locator(".error-message")
    await expect(message).to_have_attribute("data-problem", "no-access")
    await expect(message).to_contain_text("You have no access to Mistral")
    await expect(message).to_contain_text("Add your own Mistral key in Settings → API keys")
    await expect(answer.get_by_role("button", name="Retry")).to_be_visible()
    await web.screenshot("chat-error")

    # The provider rate-limits: its Retry-After reaches the message; Retry then succeeds.
    stack.sim.fail_next("anthropic", 429, retry_after="7")
    await web.pick_model(ANTHROPIC_MODEL)
    answer = await web.send("hello Anthropic")
    message = answer.locator(".error-message")
    await expect(message).to_have_attribute("data-problem", "provider-rate-limited")
    await expect(message).to_contain_text("Anthropic is rate-limiting these requests")
    await expect(message).to_contain_text("Try again in 7 s.")
    await answer.get_by_role("button", name="Retry").click()
    retried = page.locator("article.message.assistant").last
    await expect(retried.locator(".content")).to_have_text("echo: hello Anthropic")
    await expect(retried.locator(".badge-access")).to_have_text("platform")
    await expect(page.locator(".error-message")).to_have_count(1)  # the failed answer was replaced

    # A saved key the provider then refuses: the chat says so, and Settings marks the key invalid.
    stack.sim.set_valid_keys("openai", [provider_key("openai")])
    await web.go("Settings")
    await web.add_key("openai", "OpenAI", provider_key("openai"), verify=False)
    await expect(web.key_row("openai").locator(".pill")).to_have_text("Active")
    await web.go("Chat")
    await web.pick_model(OPENAI_MODEL)
    answer = await web.send("hello OpenAI")
    message = answer.locator(".error-message")
    await expect(message).to_have_attribute("data-problem", "key-rejected")
    await expect(message).to_contain_text("OpenAI rejected your API key. Replace it in Settings → API keys")
    # The verdict travels router → NATS → chat-api's consumer: reopen Settings until it has landed.
    pill = web.key_row("openai").locator(".pill")
    for _ in range(20):
        await web.go("Settings")
        await expect(pill).to_be_visible()
        if await pill.text_content() == "Invalid":
            break
        await web.go("Chat")
        await page.wait_for_timeout(250)
    await expect(pill).to_have_text("Invalid")


async def test_a_spent_platform_quota_is_explained(stack_with: StackFactory, tmp_path: Path) -> None:
    async with (
        stack_with(platform_monthly_token_quota=5) as stack,
        web_app(stack.base_url, tmp_path / "chromium-profile") as web,
    ):
        page = web.page
        await web.sign_up("quota@example.com")
        await web.pick_model(ANTHROPIC_MODEL)
        first = await web.send("this answer spends the whole quota")
        await expect(first.locator(".badge-access")).to_have_text("platform")
        second = await web.send("and this one is refused")
        message = second.locator(".error-message")
        await expect(message).to_have_attribute("data-problem", "quota-exceeded")
        await expect(message).to_contain_text("You've used this month's platform quota")

        await web.go("Settings")
        await expect(web.key_row("anthropic")).to_contain_text("platform quota is used up")
        await expect(web.key_row("mistral")).to_contain_text("No access")
        await web.go("Usage")
        await expect(page.locator("[data-quota-remaining]")).to_have_text("0")


async def test_an_unreachable_key_service_is_explained_and_nothing_is_saved(
    web: WebApp, stack: ChatApiStack, keyvault: RunningKeyVault
) -> None:
    await web.sign_up("keyvault-down@example.com")
    await web.go("Settings")
    await keyvault.server.stop(grace=0)
    await web.add_key("mistral", "Mistral", provider_key("mistral"))
    row = web.key_row("mistral")
    alert = row.get_by_role("alert")
    await expect(alert).to_contain_text("Switchyard's key service is unavailable right now")
    await expect(alert).to_contain_text("Paste the key again to retry.")
    await expect(row.get_by_label("Mistral API key")).to_have_value("")
    assert table_dump(stack, "credentials") == ""  # nothing stored
