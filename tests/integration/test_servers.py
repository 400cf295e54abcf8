"""Users' servers: isolation between users, kernels, the user environment, API tokens."""

from __future__ import annotations

import os
import re
import tarfile
from pathlib import Path

import pytest
import requests

from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.hubclient import ExecutionError, Student
from tests.helpers.sign_in import PASSWORD, running_student

pytestmark = pytest.mark.integration


def test_users_cannot_read_each_others_files(campus, hub):
    alice = running_student(campus, hub, "alice")
    bob = running_student(campus, hub, "bob")
    bob_home = f"/home/{TEST_USER_PREFIX}bob"
    bob.kernel().execute(f"open('{bob_home}/secret.txt', 'w').write('bob only')")
    modes = {path: oct(os.stat(path).st_mode & 0o777) for path in (bob_home, f"{bob_home}/secret.txt")}
    assert modes[bob_home] == "0o700", modes

    alice_kernel = alice.kernel()
    with pytest.raises(ExecutionError, match="PermissionError"):
        alice_kernel.execute(f"open('{bob_home}/secret.txt').read()")
    with pytest.raises(ExecutionError, match="PermissionError"):
        listing = alice_kernel.execute(f"import os; print(os.getuid(), os.listdir('{bob_home}'))")
        print("alice could list bob's home:", listing, modes, os.stat(bob_home))
    # No signal can reach another user's processes either.
    with pytest.raises(ExecutionError, match="PermissionError"):
        alice_kernel.execute(
            "import os, pwd, subprocess\n"
            f"uid = pwd.getpwnam('{TEST_USER_PREFIX}bob').pw_uid\n"
            "pids = [int(p) for p in os.listdir('/proc') if p.isdigit() and os.stat(f'/proc/{p}').st_uid == uid]\n"
            "os.kill(pids[0], 0)"
        )


def test_users_cannot_reach_each_others_servers(campus, hub):
    running_student(campus, hub, "alice")
    bob = running_student(campus, hub, "bob")
    # Bob's browser, with Bob's cookies, asking for Alice's server through the proxy.
    response = bob.session.get(f"{hub.url}/user/alice/api/contents", allow_redirects=True)
    assert response.status_code == 403 or "/user/alice/" not in response.url
    assert bob.session.get(f"{hub.url}/user/alice/api/kernels").status_code in (403, 404)
    assert bob.hub_api("DELETE", "/users/alice/server").status_code in (403, 404)


def test_server_environment_and_secrets(campus, hub):
    alice = running_student(campus, hub, "alice")
    kernel = alice.kernel()
    env = kernel.execute("import os, json; print(json.dumps(dict(os.environ)))")
    assert "CONFIGPROXY_AUTH_TOKEN" not in env
    assert "CAMPUSHUB_SNAPSHOT" not in env
    assert "VIRTUAL_ENV" not in env
    assert f'"USER": "{TEST_USER_PREFIX}alice"' in env
    # The scientific stack of the user environment is importable.
    versions = kernel.execute("import numpy, pandas, matplotlib, scipy; print(numpy.__version__)")
    assert re.fullmatch(r"\d+\.\d+\.\d+\s*", versions)
    # The hub's database and secrets are out of reach.
    with pytest.raises(ExecutionError, match="PermissionError"):
        kernel.execute(f"open('{campus.directory / 'data' / 'campushub.sqlite'}', 'rb').read(16)")


def test_notebook_file_saves_in_the_users_home(campus, hub):
    alice = running_student(campus, hub, "alice")
    notebook = {"type": "notebook", "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}
    assert alice.server_api("PUT", "/contents/saved.ipynb", json=notebook).status_code in (200, 201)
    listing = alice.kernel().execute("import os; print(sorted(os.listdir(os.environ['HOME'])))")
    assert "saved.ipynb" in listing


def test_r_kernel_runs(campus, hub):
    alice = running_student(campus, hub, "alice")
    specs = alice.server_api("GET", "/kernelspecs").json()["kernelspecs"]
    assert "ir" in specs, "the R kernel should be registered (make install does it when R is installed)"
    kernel = alice.kernel("ir")
    assert "2" in kernel.execute("1+1")


def test_jupyterlab_makes_no_outbound_calls(campus, hub):
    alice = running_student(campus, hub, "alice")
    lab = f"{hub.url}/user/alice/lab"
    page = alice.session.get(lab).text
    page_config = page[page.index("jupyter-config-data") :]
    assert '"news": {"disabled": true}' in page_config
    # The read-only extension manager: nothing is looked up on or installed from PyPI.
    assert '"name": "read-only"' in page_config and '"can_install": false' in page_config
    news = alice.session.get(f"{lab}/api/news")
    assert news.status_code == 200 and news.json().get("news") == []
    update = alice.session.get(f"{lab}/api/update")
    assert update.status_code == 200 and update.json().get("notification") is None
    # Students are not asked about news either: the defaults say no.
    setting = alice.session.get(f"{lab}/api/settings/@jupyterlab/apputils-extension:notification").json()
    defaults = {key: value.get("default") for key, value in setting["schema"]["properties"].items()}
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False


def test_token_command_gives_a_working_scoped_token(campus, hub):
    campus.add_user("alice", PASSWORD)
    result = campus.cli("token", "--user", "alice")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    me = requests.get(f"{hub.url}/hub/api/user", headers={"Authorization": f"token {token}"})
    assert me.status_code == 200 and me.json()["name"] == "alice"

    limited = campus.cli("token", "--user", "alice", "--scopes", "read:users:name!user").stdout.strip()
    response = requests.post(f"{hub.url}/hub/api/users/alice/server", headers={"Authorization": f"token {limited}"})
    assert response.status_code == 403

    bad = campus.cli("token", "--user", "alice", "--scopes", "no-such-scope")
    assert bad.returncode == 2 and "--scopes" in bad.stderr and "Traceback" not in bad.stderr
    nobody = campus.cli("token", "--user", "nobody")
    assert nobody.returncode == 2 and "no user 'nobody'" in nobody.stderr


def test_admin_can_remove_a_running_user_and_the_files_are_archived_first(campus, hub):
    alice = running_student(campus, hub, "alice")
    alice.kernel().execute("open('keep.txt', 'w').write('thesis')")
    result = campus.cli("users", "remove", "alice")
    assert result.returncode == 0, result.stderr
    archive = result.stdout.split("files archived in ")[1].strip()
    with tarfile.open(archive) as tar:
        assert tar.extractfile("home/keep.txt").read() == b"thesis"
    assert not Path(f"/home/{TEST_USER_PREFIX}alice").exists()
    assert "Invalid username or password" in Student(hub.url, "alice").sign_in(PASSWORD).text
    # Her old browser session is gone with the account.
    assert alice.hub_api("GET", "/user").status_code == 403


def test_a_dotted_campus_login_gets_its_own_server(campus, hub):
    """`jane.doe` is a common campus login: it becomes a system account and a server like any other name."""
    jane = running_student(campus, hub, "jane.doe")
    assert jane.hub_api("GET", "/user").json()["name"] == "jane.doe"
    who = jane.kernel().execute("import getpass, os; print(getpass.getuser(), os.environ['HOME'])").split()
    assert who[0] == f"{TEST_USER_PREFIX}jane.doe"
    assert who[1].endswith(f"/{TEST_USER_PREFIX}jane.doe")
