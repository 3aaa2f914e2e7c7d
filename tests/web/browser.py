"""Debian's headless Chromium driven by Playwright, and a page object for the web app."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import BrowserContext, Locator, Page, ViewportSize, async_playwright, expect

from tests.support.chat_api import PASSWORD

CHROMIUM = "/usr/bin/chromium"
# Headless, no sandbox (CI runs as root), and no background traffic: this machine's network is
# closed, and Chromium's update, metrics and first-run calls would only fail and slow it down.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "web"
# The stack shares 2 busy cores with the browser: generous, but bounded.
TIMEOUT_MS = 20_000


def chromium_path() -> str:
    """Debian's chromium; `make install` installs it, so a missing one is a broken setup, not a skip."""
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        raise RuntimeError(f"{CHROMIUM} is missing: run `make web-deps` (apt-get install chromium)")
    return found


@contextlib.asynccontextmanager
async def chromium(profile_dir: Path) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium with its own empty user-data dir."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=DESKTOP,
            color_scheme="light",
        )
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        try:
            yield context
        finally:
            await context.close()


@contextlib.asynccontextmanager
async def web_app(base_url: str, profile_dir: Path) -> AsyncIterator[WebApp]:
    """The web app at `base_url` in one tab of a fresh browser; fails on any uncaught page error."""
    async with chromium(profile_dir) as context:
        page = context.pages[0] if context.pages else await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield WebApp(page, base_url)
        assert errors == [], f"uncaught errors in the page: {errors}"


class WebApp:
    """The web app in one tab, driven as a person would: by labels, roles and visible text."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url

    async def open(self, path: str = "/") -> None:
        await self.page.goto(self.base_url + path)

    async def sign_up(self, email: str, password: str = PASSWORD) -> None:
        await self.open("/")
        await self.page.get_by_role("link", name="Create an account").click()
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Create account").click()
        await expect(self.page.get_by_role("button", name="Log out")).to_be_visible()

    async def log_in(self, email: str, password: str = PASSWORD) -> None:
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Log in").click()

    async def go(self, link: str) -> None:
        """Follow a link of the main navigation: Chat, Settings or Usage."""
        await self.page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()

    def key_row(self, provider_id: str) -> Locator:
        return self.page.locator(f'.key-row[data-provider="{provider_id}"]')

    async def add_key(
        self, provider_id: str, provider_name: str, key: str, *, verify: bool = True, fallback: bool = False
    ) -> None:
        """Settings → API keys → Add key (or Replace) for one provider, and submit the form."""
        row = self.key_row(provider_id)
        button = row.get_by_role("button", name=re.compile("^(Add key|Replace)$"))
        await button.click()
        await row.get_by_label(f"{provider_name} API key").fill(key)
        await row.get_by_label("Label (optional)").fill(f"my {provider_name} key")
        verify_box = row.get_by_label(f"Verify with {provider_name} before saving")
        await verify_box.set_checked(verify)
        fallback_switch = row.get_by_role("switch", name="Fall back to platform access")
        if await fallback_switch.count():
            await fallback_switch.set_checked(fallback)
        await row.get_by_role("button", name=re.compile("^(Save key|Replace key)$")).click()

    async def pick_model(self, model_id: str) -> None:
        await self.page.get_by_label("Model").select_option(model_id)

    async def send(self, text: str) -> Locator:
        """Send a message in the open chat; the answer's article once its stream has finished."""
        before = await self.page.locator("article.message.assistant").count()
        await self.page.get_by_label("Message", exact=True).fill(text)
        await self.page.get_by_role("button", name="Send").click()
        answer = self.page.locator("article.message.assistant").nth(before)
        await expect(answer).to_have_attribute("aria-busy", "false")
        return answer

    async def new_chat(self) -> None:
        await self.page.get_by_role("button", name="+ New chat").click()

    async def screenshot(self, name: str) -> None:
        """`<name>-desktop.png` and `<name>-phone.png` under test-output/web/; every control on the
        screen must have a label (a person using a screen reader hears what each one is for)."""
        assert await unlabelled_controls(self.page) == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            await self.page.set_viewport_size(size)
            await self.page.wait_for_timeout(150)
            await self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=False)
        await self.page.set_viewport_size(DESKTOP)


async def page_text_everywhere(page: Page) -> str:
    """The document's markup, every form control's current value, and both web storages."""
    dumped: str = await page.evaluate(
        """() => JSON.stringify({
            html: document.documentElement.outerHTML,
            values: [...document.querySelectorAll("input, textarea, select")].map((el) => el.value),
            local: Object.entries(localStorage),
            session: Object.entries(sessionStorage),
        })"""
    )
    return dumped


async def heap_snapshot(context: BrowserContext, page: Page) -> str:
    """The page's JavaScript heap after a full garbage collection, as V8's snapshot JSON."""
    cdp = await context.new_cdp_session(page)
    chunks: list[str] = []
    cdp.on("HeapProfiler.addHeapSnapshotChunk", lambda event: chunks.append(event["chunk"]))
    await cdp.send("HeapProfiler.enable")
    await cdp.send("HeapProfiler.collectGarbage")
    await cdp.send("HeapProfiler.takeHeapSnapshot", {"reportProgress": False})
    await cdp.detach()
    return "".join(chunks)


async def unlabelled_controls(page: Page) -> list[str]:
    """The visible form controls and buttons without an accessible name (their outer HTML)."""
    found: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea, button")]
            .filter((el) => el.getClientRects().length && el.type !== "hidden")
            .filter((el) => {
                const named = el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
                const text = el.tagName === "BUTTON" && el.textContent.trim();
                return !(named || text || (el.labels && el.labels.length));
            })
            .map((el) => el.outerHTML.slice(0, 200))"""
    )
    return found
