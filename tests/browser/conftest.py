"""The real browser: Debian chromium driven by Playwright, kept on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, UI_TIMEOUT_MS


@pytest.fixture(scope="session")
def browser(playwright_driver) -> Iterator[object]:
    """One chromium for the session; each test opens its own fresh context (cookies, storage)."""
    # `make test` installs Debian's chromium; without it this fails rather than skips.
    assert shutil.which(str(CHROMIUM)), f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
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
