"""A campus name never gets a server as root, a system account, or an account CampusHub did not make.

Accounts are made here with useradd, as an admin (or an attacker's earlier foothold) would, and the
student asks for a server through the hub's API. What runs afterwards is read from /proc.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.hubclient import Student
from tests.helpers.procfs import environ, forkserver_pid, server_pid, status
from tests.helpers.sign_in import PASSWORD

pytestmark = pytest.mark.integration

REFUSAL = "cannot be used for it. Please ask an admin"
# Not TEST_USER_PREFIX: the session's clean-up runs `pkill -u` on those names, which for a uid-0 alias is root.
ROOT_ALIAS_PREFIX = f"r{TEST_USER_PREFIX[1:]}"


def useradd(name: str, *options: str) -> pwd.struct_passwd:
    subprocess.run(["useradd", *options, name], check=True, capture_output=True)
    return pwd.getpwnam(name)


@contextlib.contextmanager
def root_alias(name: str, home: Path) -> Iterator[pwd.struct_passwd]:
    """A second name for uid 0 with CampusHub's marker, removed afterwards (its home, the test's, is kept)."""
    home.mkdir(mode=0o700)
    entry = useradd(name, "-o", "-u", "0", "-g", "0", "-M", "-N", "-d", str(home), "-c", "CampusHub user")
    try:
        yield entry
    finally:
        subprocess.run(["userdel", "-f", name], check=True, capture_output=True)  # -f: root has processes


@contextlib.contextmanager
def system_account(name: str) -> Iterator[pwd.struct_passwd]:
    """A system account (uid below UID_MIN); removed at once, since its name clashes with the session's prefix."""
    entry = useradd(name, "--system", "--create-home", "--home-dir", f"/home/{name}", "-c", "CampusHub user")
    try:
        yield entry
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


def processes() -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def serving(name: str) -> list[int]:
    """Processes started for campus user `name` (a fresh start carries JUPYTERHUB_USER in its environment)."""
    found = []
    for pid in processes():
        with contextlib.suppress(OSError):
            if environ(pid).get("JUPYTERHUB_USER") == name:
                found.append(pid)
    return found


def root_servers() -> list[int]:
    """Jupyter servers started afresh that run as root."""
    found = []
    for pid in processes():
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"jupyterhub-singleuser" in cmdline and status(pid)["Uid"].split()[0] == "0":
                found.append(pid)
    return found


def root_children(parent: int) -> list[int]:
    """Children of the fork server that run as root: a forked server that kept root."""
    found = []
    for pid in processes():
        with contextlib.suppress(OSError):
            fields = status(pid)
            if fields["PPid"] == str(parent) and fields["Uid"].split()[0] == "0":
                found.append(pid)
    return found


def ask_for_server(hub, name: str) -> tuple[int, str]:
    """Sign in (which tries a start too) and ask for the server: (API status, the message the student gets)."""
    student = Student(hub.url, name)
    student.sign_in(PASSWORD)
    response = student.hub_api("POST", f"/users/{name}/server")
    progress = student.hub_api("GET", f"/users/{name}/server/progress").text
    return response.status_code, response.text + progress


def assert_refused(campus, hub, name: str, account: str, why: str) -> None:
    code, said = ask_for_server(hub, name)
    assert code >= 400 and REFUSAL in said, (code, said)
    assert f"system account {account}: {why}" in hub.output()
    if pwd.getpwnam(account).pw_uid != 0:  # for uid 0 the fork server itself would match: see below
        with pytest.raises(AssertionError, match="no Jupyter server process"):
            server_pid(account)
    assert serving(name) == []
    assert root_servers() == []
    if campus.directory.joinpath("data/run/forkserver.sock").exists():
        assert root_children(forkserver_pid(campus.directory)) == []
    # The hub lives on and still answers.
    assert Student(hub.url, name).session.get(f"{hub.url}/hub/api/").status_code == 200


@pytest.mark.parametrize("fast", [True, False], ids=["forked", "fresh"])
def test_an_account_campushub_did_not_make_is_refused_until_adopted(campus, hub_factory, fast):
    name = f"mallory-{'forked' if fast else 'fresh'}"  # accounts outlive the test: one per case
    account = f"{TEST_USER_PREFIX}{name}"
    entry = useradd(account, "--create-home", "--home-dir", f"/home/{account}")  # an admin's, say
    campus.add_user(name, PASSWORD)
    campus.update(**{"compute.local.fast_spawn": fast})
    hub = hub_factory()
    assert_refused(campus, hub, name, account, "it exists but CampusHub did not create it")
    hub.stop()

    campus.update(**{"compute.local.adopt_accounts": [account]})
    hub = hub_factory()
    student = Student(hub.url, name)
    student.sign_in(PASSWORD)
    student.wait_for_server()
    assert status(server_pid(account))["Uid"].split()[0] == str(entry.pw_uid)
    assert student.kernel().execute("import getpass; print(getpass.getuser())").strip() == account
    student.stop_server()


@pytest.mark.parametrize("fast", [True, False], ids=["forked", "fresh"])
def test_root_and_system_accounts_are_refused_even_with_campushubs_marker(campus, hub_factory, tmp_path, fast):
    """Their full name says "CampusHub user", as if CampusHub had made them: their uid still refuses them."""
    campus.update(**{"compute.local.user_prefix": ROOT_ALIAS_PREFIX, "compute.local.fast_spawn": fast})
    for name in ("toor", "daemon"):
        campus.add_user(name, PASSWORD)
    hub = hub_factory()
    # Made after `up`, whose check would have refused a prefix that begins a system account's name.
    with root_alias(f"{ROOT_ALIAS_PREFIX}toor", tmp_path / "toor-home"):
        assert_refused(campus, hub, "toor", f"{ROOT_ALIAS_PREFIX}toor", "it has uid 0 (root)")
    with system_account(f"{ROOT_ALIAS_PREFIX}daemon") as daemon:
        assert_refused(campus, hub, "daemon", daemon.pw_name, f"its uid {daemon.pw_uid} is outside the range")
        check = campus.cli("check")
        assert check.returncode == 2, check.stdout
        assert f"FAIL account prefix: `compute.local.user_prefix` {ROOT_ALIAS_PREFIX!r} begins" in check.stdout
        assert daemon.pw_name in check.stdout


@pytest.mark.parametrize("prefix", ["ro", "nb"])
def test_a_prefix_that_could_spell_a_system_name_is_refused(campus, prefix):
    """`ro` + campus user `ot` was root: a prefix must end in `-` or `_`."""
    campus.update(**{"compute.local.user_prefix": prefix})
    for command in ("check", "up"):
        result = campus.cli(command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "`compute.local.user_prefix`" in result.stderr and "Traceback" not in result.stderr


def fake_environment(directory: Path) -> Path:
    """A user environment as `compute.environment` names one: bin/python, bin/jupyterhub-singleuser, lib/."""
    real = Path(sys.prefix) / "bin"
    (directory / "bin").mkdir(parents=True)
    (directory / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    for name in ("python", "jupyterhub-singleuser"):
        (directory / "bin" / name).symlink_to(real / name)
    return directory


@pytest.mark.parametrize("how", ["owned by a user", "writable by everyone"])
def test_root_never_runs_an_environment_others_can_change(campus, tmp_path, how):
    environment = fake_environment(tmp_path / "env")
    site = environment / "lib" / "python3.11" / "site-packages"
    if how == "owned by a user":
        owner = useradd(f"{TEST_USER_PREFIX}envowner-{secrets.token_hex(2)}")
        os.chown(site, owner.pw_uid, owner.pw_gid)
        who = f"{site} is owned by uid {owner.pw_uid} ({owner.pw_name})"
    else:
        site.chmod(0o777)
        who = f"{site} is writable by everyone"
    fix = f"chown -R root: {environment}; chmod -R go-w {environment}"
    campus.update(**{"compute.environment": str(environment)})

    check = campus.cli("check")
    assert check.returncode == 2, check.stdout
    assert f"FAIL code run as root: fast spawn runs the user environment {environment}" in check.stdout
    assert who in check.stdout and fix in check.stdout
    up = campus.cli("up")
    assert up.returncode == 2, up.stdout
    assert who in up.stderr and fix in up.stderr and "Traceback" not in up.stderr
    assert not (campus.directory / "data" / "run" / "forkserver.sock").exists()

    # The fix it gives is the fix.
    subprocess.run(["sh", "-c", fix], check=True)
    assert "ok   code run as root" in campus.cli("check").stdout


def test_campushubs_own_environment_passes(campus):
    check = campus.cli("check")
    assert "ok   code run as root" in check.stdout, check.stdout
    assert "ok   account prefix" in check.stdout
