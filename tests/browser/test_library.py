"""The library in a real browser: an anonymous visitor reads a published notebook, and hostile files run nothing.

Every payload of the hostile set (tests/helpers/hostile_notebooks.py) would, if any of its script ran, change
the page's title to PWNED, call alert, fetch or postMessage, or load something from another address. The
browser watches all of that on every page: the gallery, the project page (which shows the publisher's file
names) and each rendered file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import SPAWN_TIMEOUT_MS
from tests.helpers.hostile_notebooks import hostile_files, tiny_png

pytestmark = pytest.mark.browser

LIBRARY = "/services/library/"
MARKER = "PWNED"  # in every payload of the hostile set
# Runs in the page before anything else: records what a payload's script would do, were it to run.
WATCH = """
window.__ran = [];
for (const name of ['alert', 'confirm', 'prompt']) {
  window[name] = (message) => { window.__ran.push(name + ':' + message); };
}
const realFetch = window.fetch;
window.fetch = (...args) => { window.__ran.push('fetch:' + String(args[0])); return realFetch(...args); };
const realPost = window.postMessage;
window.postMessage = (...args) => { window.__ran.push('postMessage:' + String(args[0])); };
"""


def publish(campus, folder: Path, *args: str) -> None:
    result = campus.cli("library", "publish", str(folder), "--owner", "lena", *args)
    assert result.returncode == 0, result.stdout + result.stderr


def watched_page(context, hub_url: str):
    page = context.new_page()
    page.add_init_script(WATCH)
    outside: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(hub_url) else outside.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    return page, outside, dialogs


def assert_nothing_ran(page, outside: list[str], dialogs: list[str], where: str) -> None:
    assert page.title() != MARKER, where  # what every payload sets it to
    ran = page.evaluate("window.__ran")
    assert ran == [], (where, ran)
    assert page.evaluate("document.querySelectorAll('script, iframe, object, embed, meta[http-equiv]').length") == 0
    assert outside == [], (where, outside)
    assert dialogs == [], (where, dialogs)


def test_an_anonymous_visitor_reads_a_published_notebook(campus, hub, context, tmp_path, artifacts_dir):
    folder = tmp_path / "example"
    folder.mkdir()
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# Gradient descent, step by step"},
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": 1,
            "source": "sum(range(10))",
            "outputs": [
                {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": "45"}}
            ],
        },
    ]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (folder / "descent.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    (folder / "figure.png").write_bytes(tiny_png())
    (folder / "README.md").write_text("# About\n\n![the figure](figure.png)\n", encoding="utf-8")
    publish(campus, folder, "--title", "Gradient descent", "--tag", "optimisation")

    page, outside, dialogs = watched_page(context, hub.url)
    page.goto(f"{hub.url}{LIBRARY}")
    page.get_by_role("link", name="Gradient descent").click()
    expect(page.locator("h1")).to_have_text("Gradient descent")
    page.get_by_role("link", name="descent.ipynb").click()
    expect(page.locator("main")).to_contain_text("Gradient descent, step by step")
    expect(page.locator("main")).to_contain_text("45")
    page.screenshot(path=artifacts_dir / "library-notebook.png", full_page=True)
    assert_nothing_ran(page, outside, dialogs, "the worked example")

    # A figure the Markdown shows comes from the project's own files, and loads in the sandboxed page.
    page.goto(f"{hub.url}{LIBRARY}p/lena/gradient-descent/v/1/f/README.md")
    figure = page.locator("main img")
    expect(figure).to_have_count(1)
    page.wait_for_function("document.querySelector('main img').complete")
    assert page.evaluate("document.querySelector('main img').naturalWidth") > 0, "the figure did not load"
    assert_nothing_ran(page, outside, dialogs, "the README")


def test_hostile_files_render_with_nothing_executed(campus, hub, context, tmp_path, artifacts_dir):
    folder = tmp_path / "hostile"
    folder.mkdir()
    # A file name cannot hold '/' on disk, where publishing takes files from: the rest of each hostile name stays.
    files = {name.replace("/", "|"): content for name, content in hostile_files().items()}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    publish(
        campus,
        folder,
        "--title",
        f"<img src=x onerror=\"document.title='{MARKER}'\">",
        "--description",
        f"<script>document.title='{MARKER}'</script>",
        "--project",
        "hostile",
    )

    page, outside, dialogs = watched_page(context, hub.url)
    base = f"{hub.url}{LIBRARY}"
    for where in (base, f"{base}p/lena/hostile/", f"{base}u/lena/", f"{base}?q=img"):
        page.goto(where)
        page.wait_for_load_state("load")
        assert_nothing_ran(page, outside, dialogs, where)

    rendered = 0
    for name in sorted(files):
        response = page.goto(f"{base}p/lena/hostile/v/1/f/{quote(name)}")
        assert response is not None and response.status in (200, 404), (name, response and response.status)
        page.wait_for_load_state("load")
        page.wait_for_timeout(200)  # a timer- or load-driven payload would have run by now
        assert_nothing_ran(page, outside, dialogs, name)
        rendered += response.status == 200
        if name.endswith(".ipynb") and response.status == 200:
            page.screenshot(path=artifacts_dir / f"library-hostile-{rendered}.png")
    assert rendered >= len(files) - 2, "most hostile files render (safely), rather than being refused"


def test_a_launch_link_signs_a_visitor_in_and_opens_the_copied_notebook(campus, hub, context, tmp_path):
    folder = tmp_path / "launchable"
    folder.mkdir()
    notebook = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Launched from a badge"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / "start.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    publish(campus, folder, "--title", "Launchable", "--project", "launchable")
    campus.add_user("vera", "launch-password-1")

    page = context.new_page()
    badge = page.request.get(f"{hub.url}{LIBRARY}badge.svg")
    assert badge.ok and badge.headers["content-type"] == "image/svg+xml"
    project_page = page.request.get(f"{hub.url}{LIBRARY}p/lena/launchable/")
    assert f"({hub.url}/hub/library/lena/launchable/launch)" in project_page.text(), "the badge's link"
    page.goto(f"{hub.url}/hub/library/lena/launchable/launch")  # the badge's short link, on the hub
    expect(page).to_have_url(re.compile(r"/hub/login"))  # signed out: the hub's own sign-in first
    page.locator("#username_input").fill("vera")
    page.locator("#password_input").fill("launch-password-1")
    page.locator("#login_submit").click()
    page.get_by_role("button", name="Copy into my workspace and open it").click()
    expect(page).to_have_url(
        re.compile(r"/user/vera/lab/tree/library/lena-launchable/start\.ipynb"), timeout=SPAWN_TIMEOUT_MS
    )
    expect(page.locator(".jp-NotebookPanel").first).to_contain_text("Launched from a badge", timeout=SPAWN_TIMEOUT_MS)

    # JupyterLab's File menu leads to the library's publish page.
    page.get_by_role("menuitem", name="File").click()
    item = page.get_by_role("menuitem", name="Publish to the Library…")
    expect(item).to_be_visible()
    with page.expect_popup() as opened:
        item.click()
    publish_page = opened.value
    expect(publish_page.locator("h1")).to_have_text("Publish a folder of your workspace")
