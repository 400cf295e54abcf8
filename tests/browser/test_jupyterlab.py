"""A student in a real browser: sign in, land in JupyterLab, run a cell."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CAMPUS_NAME = "Test University"
PASSWORD = "lab-password-1"

# Generous: the first spawn makes a system account and starts JupyterLab.
SPAWN_TIMEOUT_MS = 90_000
KERNEL_TIMEOUT_MS = 60_000
UI_TIMEOUT_MS = 30_000


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return True  # data:, blob:, about:, chrome-extension: ... never leave the machine
    host = (parts.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PageWatch:
    """What a page did besides what the test asked: outbound requests, script errors."""

    def __init__(self, context, page) -> None:
        self.outbound: list[str] = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        context.on("request", self._request)
        page.on("websocket", lambda ws: self._url(ws.url))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)

    def _request(self, request) -> None:
        self.requests.append(f"{request.method} {request.url}")
        self._url(request.url)

    def _url(self, url: str) -> None:
        if not is_loopback(url):
            self.outbound.append(url)

    def _console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def report(self) -> str:
        return "\n".join(
            [
                f"page errors: {self.page_errors}",
                f"console errors: {self.console_errors}",
                f"outbound: {self.outbound}",
                f"{len(self.requests)} requests:",
                *self.requests,
            ]
        )


@pytest.fixture
def context(browser) -> Iterator[object]:
    """A fresh browser context (its own cookies and storage) per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    yield context
    context.close()


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/hub/login")
    page.locator("#username_input").fill(username)
    page.locator("#password_input").fill(password)
    page.locator("#login_submit").click()


def test_sign_in_and_run_a_cell_in_jupyterlab(campus, hub_factory, context, artifacts_dir):
    campus.update(name=CAMPUS_NAME)
    campus.add_user("ada", PASSWORD)
    hub = hub_factory()

    page = context.new_page()
    watch = PageWatch(context, page)

    page.goto(f"{hub.url}/hub/login")
    expect(page.locator("#campus-name")).to_have_text(CAMPUS_NAME)
    expect(page.locator("#login_submit")).to_be_visible()
    page.screenshot(path=artifacts_dir / "login-page.png", full_page=True)

    sign_in(page, hub.url, "ada", PASSWORD)

    # Through spawn-pending into the Lab shell and its launcher.
    expect(page).to_have_url(re.compile(r"/user/ada/lab"), timeout=SPAWN_TIMEOUT_MS)
    launcher = page.locator(".jp-Launcher")
    expect(launcher).to_be_visible(timeout=SPAWN_TIMEOUT_MS)

    # A new notebook on the Python 3 kernel, from the launcher's Notebook section.
    card = launcher.locator('.jp-LauncherCard[data-category="Notebook"]').filter(has_text="Python 3")
    expect(card).to_have_count(1)
    card.click()

    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(notebook).to_have_count(1)
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=KERNEL_TIMEOUT_MS
    )
    expect(page.locator(".jp-StatusBar-Widget", has_text="Idle").first).to_be_visible()

    cell = notebook.locator(".jp-Notebook .jp-Cell").first
    editor = cell.locator(".cm-content")
    editor.click()
    editor.press_sequentially("1+1")
    expect(editor).to_have_text("1+1")
    editor.press("Shift+Enter")

    output = cell.locator(".jp-OutputArea-output")
    expect(output).to_have_text("2", timeout=KERNEL_TIMEOUT_MS)
    expect(cell.locator(".jp-InputArea-prompt")).to_have_text(re.compile(r"\[1\]"))
    page.screenshot(path=artifacts_dir / "jupyterlab-1plus1.png")
    print(watch.report())

    assert not watch.page_errors, watch.page_errors
    assert not watch.outbound, f"the browser tried to reach hosts off this machine: {watch.outbound}"


def test_wrong_password_stays_on_the_login_page(campus, hub, context, artifacts_dir):
    campus.add_user("grace", PASSWORD)

    page = context.new_page()
    watch = PageWatch(context, page)
    sign_in(page, hub.url, "grace", "wrong-password-1")

    expect(page.get_by_text("Invalid username or password")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/hub/login"))
    expect(page.locator("#campus-name")).to_have_text("CampusHub")
    expect(page.locator("#username_input")).to_be_visible()
    assert page.locator(".jp-LabShell").count() == 0
    page.screenshot(path=artifacts_dir / "login-wrong-password.png", full_page=True)

    # Nothing was started for her: the hub has no session cookie to show for it.
    response = page.request.get(f"{hub.url}/hub/api/user")
    assert response.status == 403, response.text()
    assert not watch.outbound, f"the browser tried to reach hosts off this machine: {watch.outbound}"
