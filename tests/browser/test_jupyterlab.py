"""A student in a real browser: sign in, land in JupyterLab, run a cell."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.helpers import oidc_people
from tests.helpers.browser import KERNEL_TIMEOUT_MS, SPAWN_TIMEOUT_MS, UI_TIMEOUT_MS, sign_in

pytestmark = pytest.mark.browser

CAMPUS_NAME = "Test University"
PASSWORD = "lab-password-1"


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return True  # data:, blob:, about: ... never leave the machine
    host = (parts.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PageWatch:
    """What a page did besides what the test asked: requests off the machine, script errors."""

    def __init__(self, context, page) -> None:
        self.requests: list[str] = []
        self.outbound: list[str] = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
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
                f"requests off the machine: {self.outbound}",
                f"{len(self.requests)} requests in all",
            ]
        )


def test_sign_in_and_run_a_cell_in_jupyterlab(campus, hub_factory, context, artifacts_dir):
    campus.update(name=CAMPUS_NAME)
    campus.add_user("ada", PASSWORD)
    hub = hub_factory()

    page = context.new_page()
    watch = PageWatch(context, page)

    page.goto(f"{hub.url}/hub/login")
    expect(page.locator("#campus-name")).to_have_text(CAMPUS_NAME, timeout=UI_TIMEOUT_MS)
    expect(page.locator("#login_submit")).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.screenshot(path=artifacts_dir / "login-page.png", full_page=True)

    sign_in(page, hub.url, "ada", PASSWORD)

    # Through spawn-pending into the Lab shell and its launcher.
    expect(page).to_have_url(re.compile(r"/user/ada/lab"), timeout=SPAWN_TIMEOUT_MS)
    launcher = page.locator(".jp-Launcher")
    expect(launcher).to_be_visible(timeout=SPAWN_TIMEOUT_MS)

    # A new notebook on the Python 3 kernel, from the launcher's Notebook section.
    card = launcher.locator('.jp-LauncherCard[data-category="Notebook"]').filter(has_text="Python 3")
    expect(card).to_have_count(1, timeout=UI_TIMEOUT_MS)
    card.click()

    notebook = page.locator(".jp-NotebookPanel").filter(visible=True)
    expect(notebook).to_have_count(1, timeout=UI_TIMEOUT_MS)
    # The toolbar's indicator says "idle" before any kernel is attached; the status bar names the
    # kernel and its state only once it is connected, so wait for both.
    expect(page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"Python 3 \(ipykernel\) \| Idle"))).to_have_count(
        1, timeout=KERNEL_TIMEOUT_MS
    )
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=KERNEL_TIMEOUT_MS
    )

    cell = notebook.locator(".jp-Notebook .jp-CodeCell").first
    editor = cell.locator(".cm-content")
    editor.click()
    editor.press_sequentially("1+1")
    expect(editor).to_have_text("1+1", timeout=UI_TIMEOUT_MS)
    editor.press("Shift+Enter")

    expect(cell.locator(".jp-OutputArea-output")).to_have_text("2", timeout=KERNEL_TIMEOUT_MS)
    expect(cell.locator(".jp-InputArea-prompt")).to_have_text(re.compile(r"\[1\]"), timeout=UI_TIMEOUT_MS)
    page.screenshot(path=artifacts_dir / "jupyterlab-1plus1.png")

    print(watch.report())
    assert not watch.page_errors, watch.page_errors
    assert not watch.outbound, f"the browser tried to reach hosts off this machine: {watch.outbound}"


def test_wrong_password_stays_on_the_login_page(campus, hub, context, artifacts_dir):
    campus.add_user("grace", PASSWORD)

    page = context.new_page()
    watch = PageWatch(context, page)
    sign_in(page, hub.url, "grace", "wrong-password-1")

    expect(page.get_by_text("Invalid username or password")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page).to_have_url(re.compile(r"/hub/login"), timeout=UI_TIMEOUT_MS)
    expect(page.locator("#campus-name")).to_have_text("CampusHub", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#username_input")).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert page.locator(".jp-LabShell").count() == 0
    page.screenshot(path=artifacts_dir / "login-wrong-password.png", full_page=True)

    # Not signed in: the hub's API, asked with this browser's cookies, does not know her.
    response = page.request.get(f"{hub.url}/hub/api/user")
    assert response.status == 403, response.text()
    # And no server was started for her.
    assert "/user/grace" not in " ".join(watch.requests)

    print(watch.report())
    assert not watch.page_errors, watch.page_errors
    assert not watch.outbound, f"the browser tried to reach hosts off this machine: {watch.outbound}"


def test_sign_in_with_the_campus_directory_from_the_combined_page(campus, hub_factory, slapd, context, monkeypatch):
    monkeypatch.setenv("CAMPUSHUB_TEST_LDAP_READER", slapd.reader_password)
    campus.update(
        **{
            "sign_in.local": {},
            "sign_in.ldap": slapd.sign_in_config("CAMPUSHUB_TEST_LDAP_READER", allowed_groups=["students"]),
        }
    )
    hub = hub_factory()
    page = context.new_page()
    watch = PageWatch(context, page)
    page.goto(f"{hub.url}/hub/login")
    directory_form = page.locator("#sign-in-ldap")
    expect(page.locator("#sign-in-local")).to_be_visible()
    expect(directory_form).to_contain_text("University account")
    directory_form.locator("input[name=username]").fill("alice")
    directory_form.locator("input[name=password]").fill(slapd.passwords["alice"])
    directory_form.locator("input[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/user/alice/lab"), timeout=SPAWN_TIMEOUT_MS)
    expect(page.locator(".jp-Launcher")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
    assert not watch.outbound, watch.outbound


def test_sign_in_with_campus_sso_from_the_combined_page(campus, hub_factory, oidc_provider, context, monkeypatch):
    monkeypatch.setenv(oidc_people.SECRET_ENV, oidc_people.CLIENT_SECRET)
    provider = oidc_people.start_provider(oidc_provider, campus.url)
    campus.update(**{"sign_in.local": {}, "sign_in.oidc": oidc_people.sign_in_settings(provider)})
    hub = hub_factory()
    page = context.new_page()
    watch = PageWatch(context, page)
    page.goto(f"{hub.url}/hub/login")
    expect(page.locator("#sign-in-local")).to_be_visible()
    page.locator("#sign-in-campus").get_by_role("button", name="Campus SSO").click()

    # The provider's own login page, on its own port.
    expect(page).to_have_url(re.compile(rf"^{re.escape(provider.issuer)}/interaction/"), timeout=UI_TIMEOUT_MS)
    page.locator("#login").fill(oidc_people.ALICE["username"])
    page.locator("#password").fill(oidc_people.ALICE["password"])
    page.locator("#submit").click()

    expect(page).to_have_url(re.compile(r"/user/alice/lab"), timeout=SPAWN_TIMEOUT_MS)
    expect(page.locator(".jp-Launcher")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
    assert not watch.page_errors, watch.page_errors
    assert not watch.outbound, watch.outbound


def test_sign_in_with_github_from_the_combined_page(campus, hub_factory, github_standin, context, monkeypatch):
    monkeypatch.setenv("CAMPUSHUB_TEST_GITHUB_SECRET", "github-secret-1")
    client = {"client_id": "Iv1.campushub", "client_secret": "github-secret-1"}
    callback = f"{campus.url}/hub/oidc/github/oauth_callback"
    user = {"login": "octo", "password": "octo-gh-password-1", "id": 1, "name": "Octo", "email": None,
            "orgs": ["campus-courses"], "teams": [["campus-courses", "cs101"]]}  # fmt: skip
    github = github_standin([{**client, "redirect_uri": callback}], [user])
    section = {
        "preset": "github",
        "label": "GitHub",
        "github_url": github.url,
        "client_id": client["client_id"],
        "client_secret": "${CAMPUSHUB_TEST_GITHUB_SECRET}",
        "allowed_groups": ["campus-courses:cs101"],
    }
    campus.update(**{"sign_in.local": {}, "sign_in.oidc": {"github": section}})
    hub = hub_factory()
    page = context.new_page()
    watch = PageWatch(context, page)
    page.goto(f"{hub.url}/hub/login")
    page.locator("#sign-in-github").get_by_role("button", name="GitHub").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(github.url)}/login/oauth/authorize"), timeout=UI_TIMEOUT_MS)
    page.locator("#login").fill("octo")
    page.locator("#password").fill(user["password"])
    page.locator("#submit").click()

    expect(page).to_have_url(re.compile(r"/user/octo/lab"), timeout=SPAWN_TIMEOUT_MS)
    expect(page.locator(".jp-Launcher")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
    assert not watch.page_errors, watch.page_errors
    assert not watch.outbound, watch.outbound
