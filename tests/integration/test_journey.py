"""The whole path a student takes: account, sign-in, server, kernel, result, stop."""

from __future__ import annotations

import os
import pwd
import stat

import pytest

from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.hubclient import Student

pytestmark = pytest.mark.integration


def test_sign_in_spawn_and_run_code_through_the_proxy(campus, hub):
    result = campus.cli("users", "add", "alice", "bob")
    assert result.returncode == 0, result.stderr
    passwords = dict(line.split("\t") for line in result.stdout.splitlines())
    assert set(passwords) == {"alice", "bob"}

    alice = Student(hub.url, "alice")
    response = alice.sign_in(passwords["alice"])
    assert response.status_code == 200
    alice.wait_for_server()

    kernel = alice.kernel()
    assert kernel.execute("1+1") == "2"

    system_user = TEST_USER_PREFIX + "alice"
    entry = pwd.getpwnam(system_user)
    identity = kernel.execute("import os; print(os.getuid(), os.getgid(), os.environ['HOME'], os.getcwd())")
    assert identity.split() == [str(entry.pw_uid), str(entry.pw_gid), entry.pw_dir, entry.pw_dir]
    assert stat.S_IMODE(os.stat(entry.pw_dir).st_mode) == 0o700
    kernel.close()

    alice.stop_server()
    assert alice.server() is None

    # Everything the platform printed is also in the log file, without the passwords that passed through.
    log = (campus.directory / "data" / "logs" / "campushub.log").read_text()
    assert "JupyterHub is now running" in log and "Spawning" in log
    assert passwords["alice"] not in log
    assert "is ready at" in hub.output()


def test_wrong_password_is_rejected(campus, hub):
    campus.add_user("carol", "right-password-1")
    carol = Student(hub.url, "carol")
    response = carol.sign_in("wrong-password-1")
    assert response.url.endswith("/hub/login")
    assert "Invalid username or password" in response.text
    assert carol.hub_api("GET", "/user").status_code == 403
