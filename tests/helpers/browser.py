"""What the browser tests share: how long to wait, and signing in on the login page."""

from __future__ import annotations

from pathlib import Path

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

# Generous: the first spawn makes a system account and starts JupyterLab.
SPAWN_TIMEOUT_MS = 90_000
KERNEL_TIMEOUT_MS = 60_000
UI_TIMEOUT_MS = 30_000


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/hub/login")
    page.locator("#username_input").fill(username)
    page.locator("#password_input").fill(password)
    page.locator("#login_submit").click()
