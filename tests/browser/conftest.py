"""The real browser: Debian chromium driven by Playwright, kept on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Generous: the first spawn makes a system account and starts JupyterLab.
SPAWN_TIMEOUT_MS = 90_000
KERNEL_TIMEOUT_MS = 60_000
UI_TIMEOUT_MS = 30_000


# Flags that keep chromium to itself: no GPU, no QUIC, no background calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One chromium for the session; each test opens its own fresh context (cookies, storage)."""
    # `make test` installs Debian's chromium; without it this fails rather than skips.
    assert shutil.which(str(CHROMIUM)), f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser) -> Iterator[object]:
    """A fresh browser context (its own cookies and storage) per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.set_default_navigation_timeout(UI_TIMEOUT_MS)
    yield context
    context.close()


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/hub/login")
    page.locator("#username_input").fill(username)
    page.locator("#password_input").fill(password)
    page.locator("#login_submit").click()
