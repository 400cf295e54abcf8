"""The first start, whatever the configuration file is called: the first admin gets an account to sign in with.

An admin who keeps the file at /etc/campushub/campus.yaml, or writes it by hand before the first
`up -c FILE`, must find the same first admin account as one who let `up` write ./campus.yaml.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.ports import free_port_block
from tests.helpers.hub import TEST_USER_PREFIX, Campus, RunningHub, start_hub
from tests.helpers.hubclient import Student
from tests.helpers.ldap_settings import ldap_config
from tests.helpers.sign_in import me

pytestmark = pytest.mark.integration

BOSS_PASSWORD = "first-admin-password-1"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[list[RunningHub]]:
    started: list[RunningHub] = []
    yield started
    for hub in started:
        hub.stop()


def hand_written(directory: Path, port: int) -> Path:
    """A campus.yaml an admin wrote without `init`, in a directory of its own, under another name."""
    path = directory / "etc" / "notebooks.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        f"name: Hand-written campus\nlisten:\n  port: {port}\nadmins: [boss]\nsign_in:\n  local:\n"
        f"compute:\n  local:\n    user_prefix: {TEST_USER_PREFIX}\n"
    )
    return path


def test_a_hand_written_file_under_another_name_gets_its_first_admin(tmp_path: Path, elsewhere) -> None:
    port = free_port_block()
    path = hand_written(tmp_path, port)
    campus = Campus(tmp_path, port)
    hub = start_hub(campus, "-c", str(path), env={"CAMPUSHUB_ADMIN_PASSWORD": BOSS_PASSWORD})
    elsewhere.append(hub)
    assert f"First start of Hand-written campus with {path}" in hub.output()
    assert "Admin account 'boss' created with the password from $CAMPUSHUB_ADMIN_PASSWORD" in hub.output()
    boss = Student(hub.url, "boss")
    boss.sign_in(BOSS_PASSWORD)
    assert me(boss)["admin"] is True
    assert (path.parent / "data" / "campushub.sqlite").exists()  # data_dir is relative to the file

    # The second start is not a first start: nothing is made or shown again.
    hub.stop()
    again = start_hub(campus, "-c", str(path))
    elsewhere.append(again)
    assert "First start" not in again.output() and "password" not in again.output().lower()


def test_a_missing_file_under_another_name_is_set_up_like_the_default_one(tmp_path: Path, elsewhere) -> None:
    port = free_port_block()
    path = tmp_path / "srv" / "campus-prod.yaml"
    path.parent.mkdir()
    campus = Campus(tmp_path, port)
    # `up` writes the file, then starts it; the port is the example's unless given on the command line.
    hub = start_hub(campus, "-c", str(path), "--port", str(port), env={"CAMPUSHUB_ADMIN_PASSWORD": BOSS_PASSWORD})
    elsewhere.append(hub)
    assert f"No {path} here: setting one up first." in hub.output() and path.exists()
    admin = Student(hub.url, "admin")
    admin.sign_in(BOSS_PASSWORD)
    assert me(admin)["admin"] is True


def test_no_built_in_accounts_no_account_made(tmp_path: Path, elsewhere, slapd, directory_reader_password) -> None:
    """With the directory alone, the listed admin signs in with the directory: no built-in account is made."""
    port = free_port_block()
    campus = Campus(tmp_path, port)
    path = tmp_path / "campus.yaml"
    settings = {
        "listen": {"port": port},
        "admins": ["dave"],
        "sign_in": {"ldap": ldap_config(slapd)},
        "compute": {"local": {"user_prefix": TEST_USER_PREFIX}},
    }
    path.write_text(json.dumps(settings))  # JSON is YAML
    hub = start_hub(campus, "-c", str(path))
    elsewhere.append(hub)
    assert "First start" not in hub.output()
    assert "dave" not in campus.cli("users", "list", "-c", str(path)).stdout
