"""A plug-in package adds a sign-in method and a compute backend, each one module plus one registration.

tests/plugin is built and installed like any third-party plug-in (`make test-deps` installs it into a
site directory of its own, so only hubs started with it on PYTHONPATH load it). Its `workshop`
method signs listed participants in with a shared code; its `workshop` backend runs servers as
CampusHub's local backend does, greeting each with a banner in its environment.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.hubclient import Student
from tests.helpers.sign_in import me

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SITE = REPO / "tests" / ".plugin-site"
CODE = "summer-school-2026"


@pytest.fixture(scope="module")
def plugin_env() -> dict[str, str]:
    """The environment a hub with the plug-in runs in; installs the plug-in first when `make test-deps` has not."""
    if not (PLUGIN_SITE / ".installed").exists():
        subprocess.run(["make", "--no-print-directory", "tests/.plugin-site/.installed"], cwd=REPO, check=True)
    return {"PYTHONPATH": str(PLUGIN_SITE)}


@pytest.fixture
def workshop_hub(campus, hub_factory, plugin_env):
    campus.update(
        **{
            "sign_in.local": {},
            "sign_in.workshop": {"summer": {"label": "Summer school", "code": CODE, "participants": ["ann", "bo"]}},
            "compute.backend": "workshop",
            "compute.workshop": {"banner": "Welcome to the summer school", "user_prefix": TEST_USER_PREFIX},
        }
    )
    return hub_factory(env=plugin_env)


def workshop_sign_in(hub, name: str, code: str) -> Student:
    student = Student(hub.url, name)
    student.session.get(f"{hub.url}/hub/login")
    form = {"username": name, "password": code, "method": "summer", "_xsrf": student._xsrf()}
    student.last_response = student.session.post(f"{hub.url}/hub/login", data=form)
    return student


def test_the_plugin_method_is_on_the_sign_in_page(workshop_hub):
    page = requests.get(f"{workshop_hub.url}/hub/login").text
    assert 'id="sign-in-summer"' in page and "Summer school" in page and 'id="sign-in-local"' in page


def test_participants_sign_in_and_run_on_the_plugin_backend(workshop_hub):
    ann = workshop_sign_in(workshop_hub, "ann", CODE)
    assert me(ann)["name"] == "ann"
    ann.wait_for_server()
    kernel = ann.kernel()
    try:
        assert kernel.execute("import os; print(os.environ['WORKSHOP_BANNER'], os.getuid() != 0)").split() == [
            "Welcome",
            "to",
            "the",
            "summer",
            "school",
            "True",
        ]
    finally:
        kernel.close()


def test_the_plugin_method_keeps_campushub_rules(workshop_hub):
    """A wrong code, or a name not listed, gets nobody in: the method's own rule, behind CampusHub's throttle."""
    assert me(workshop_sign_in(workshop_hub, "ann", "wrong-code-123")) is None
    assert me(workshop_sign_in(workshop_hub, "mallory", CODE)) is None


def test_check_and_the_start_log_name_the_plugin(workshop_hub, campus, plugin_env):
    assert "plug-ins: workshop" in workshop_hub.output()
    result = campus.cli("check", env=plugin_env)
    assert "ok   workshop summer participants" in result.stdout, result.stdout


def test_without_the_plugin_the_file_names_what_is_missing(workshop_hub, campus):
    """The same campus.yaml on a machine without the plug-in: a clear error, not a stack trace."""
    result = campus.cli("check", env={"PYTHONPATH": ""})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "workshop" in result.stderr


def test_plugin_hooks_run_in_the_hub_process_only_when_installed() -> None:
    """CampusHub's own process (no plug-in on the path) registers only the built-ins."""
    out = subprocess.run(
        [sys.executable, "-c", "from campushub.plugins import plugin_names; print(plugin_names())"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    assert out.strip() == "[]"
