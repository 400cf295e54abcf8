"""The real browser: Debian chromium driven by Playwright, kept on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.helpers.browser import UI_TIMEOUT_MS

CHROMIUM = Path("/usr/bin/chromium")


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
