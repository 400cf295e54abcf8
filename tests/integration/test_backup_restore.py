"""`campushub backup` and `campushub restore`: a campus backed up while it runs comes back on a fresh machine
with its accounts, passwords, tokens, groups and users' files; a damaged backup is refused before anything
is touched."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import requests
from ruamel.yaml import YAML

from bench.ports import free_port
from tests.helpers.databases import POSTGRESQL, on_both_databases, on_postgresql
from tests.helpers.hub import ADMIN, ADMIN_PASSWORD, TEST_USER_PREFIX, Campus, run_cli, start_hub
from tests.helpers.hubclient import Student
from tests.helpers.sign_in import PASSWORD, running_student

pytestmark = pytest.mark.integration


def modes(root: Path) -> dict[str, int]:
    """The permission bits of a directory and of everything in it, by relative path."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[path.relative_to(root).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


def remove_system_account(name: str) -> None:
    """What a machine that burnt down leaves of a user: nothing (account and home gone)."""
    subprocess.run(["pkill", "-KILL", "-u", name], check=False)
    result = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def fresh_machine(old: Campus, backup: Path, database_url: str | None) -> Campus:
    """A new campus directory for the restore; with `database_url`, its admin wrote campus.yaml by hand first."""
    new = Campus(old.directory.parent / "new-machine", old.port)
    new.directory.mkdir()
    if database_url is not None:
        shutil.copy(backup / "campus.yaml", new.config_path)
        new.update(**{"database.url": database_url})
    return new


@on_both_databases
def test_a_running_campus_comes_back_on_a_fresh_machine(campus, hub_factory, campus_database, request, tmp_path):
    hub = hub_factory()
    account = TEST_USER_PREFIX + "alice"
    alice = running_student(campus, hub, "alice")
    thesis = {"type": "file", "format": "text", "content": "chapter one\n"}
    assert alice.server_api("PUT", "/contents/thesis.txt", json=thesis).status_code in (200, 201)
    admin = Student(hub.url, ADMIN)
    admin.sign_in(ADMIN_PASSWORD)
    assert admin.hub_api("POST", "/groups/physics", json={"users": ["alice"]}).status_code == 201
    token = campus.cli("token", "--user", "alice").stdout.strip()
    old_uid = pwd.getpwnam(account).pw_uid

    backup = tmp_path / "backup"
    made = campus.cli("backup", "--homes", str(backup))  # while the hub and alice's server run
    assert made.returncode == 0, made.stderr
    assert f"into {backup}" in made.stdout and "the homes of" in made.stdout
    found = modes(backup)
    assert found["."] == 0o700 and found["homes"] == 0o700
    assert found["homes/alice.tar.gz"] == 0o600 and found["manifest.json"] == 0o600
    assert all(mode in (0o600, 0o700) for mode in found.values()), found
    assert {"campus.yaml", "secrets/jupyterhub_cookie_secret"} <= set(found)
    database_file = "database/campushub.pgdump" if campus_database == POSTGRESQL else "database/campushub.sqlite"
    assert database_file in found
    assert "effective-config.json" not in made.stdout and "secrets/effective-config.json" not in found

    hub.stop()
    shutil.rmtree(campus.directory / "data")
    for name in (ADMIN, "alice"):  # signing in started the admin's server too
        remove_system_account(TEST_USER_PREFIX + name)
    assert not Path(f"/home/{account}").exists()
    # Someone else gets alice's old uid on the new machine: her files must follow her account, not the number.
    filler = f"{TEST_USER_PREFIX}filler-{campus_database}"
    taken = subprocess.run(["useradd", "--uid", str(old_uid), filler], capture_output=True, text=True)
    assert taken.returncode == 0 or "not unique" in taken.stderr, taken.stderr  # or another account has it now
    if taken.returncode == 0:
        request.addfinalizer(lambda: remove_system_account(filler))

    new_url = None
    if campus_database == POSTGRESQL:
        postgres = request.getfixturevalue("postgres")
        new_url = postgres.new_database()
        request.addfinalizer(lambda: postgres.drop_database(new_url))
    new = fresh_machine(campus, backup, new_url)
    restored = new.cli("restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "Restored the backup" in restored.stdout and "campushub up" in restored.stdout
    if new_url is None:
        assert (new.config_path.read_bytes() == (backup / "campus.yaml").read_bytes()) and "wrote" in restored.stdout
    else:
        assert (
            "kept" in restored.stdout
            and YAML(typ="safe").load(new.config_path.read_text())["database"]["url"] == new_url
        )
    entry = pwd.getpwnam(account)
    assert entry.pw_uid != old_uid
    home_file = Path(entry.pw_dir) / "thesis.txt"
    assert home_file.stat().st_uid == entry.pw_uid and Path(entry.pw_dir).stat().st_uid == entry.pw_uid
    assert stat.S_IMODE(Path(entry.pw_dir).stat().st_mode) == 0o700

    hub = start_hub(new)
    try:
        # Her old browser session still signs her in: the cookie secret came back with the database.
        assert alice.hub_api("GET", "/user").json()["name"] == "alice"
        again = Student(hub.url, "alice")
        assert "Invalid username or password" not in again.sign_in(PASSWORD).text
        again.wait_for_server()
        content = again.server_api("GET", "/contents/thesis.txt").json()
        assert content["content"] == "chapter one\n"
        me = requests.get(f"{hub.url}/hub/api/user", headers={"Authorization": f"token {token}"})
        assert me.status_code == 200 and me.json()["name"] == "alice"
        assert "physics" in me.json()["groups"]
        admin = Student(hub.url, ADMIN)
        admin.sign_in(ADMIN_PASSWORD)
        assert admin.hub_api("GET", "/groups/physics").json()["users"] == ["alice"]
    finally:
        hub.stop()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def change_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "named", "said"),
    [
        (lambda backup: change_one_byte(backup / "campus.yaml"), "campus.yaml", "SHA-256"),
        (lambda backup: (backup / "database" / "campushub.sqlite").unlink(), "database/campushub.sqlite", "missing"),
        (
            lambda backup: (backup / "database" / "notes.txt").write_text("x"),
            "database/notes.txt",
            "not in its manifest",
        ),
        (lambda backup: (backup / "manifest.json").unlink(), "manifest.json", "incomplete"),
    ],
    ids=["tampered", "partial", "extra", "no-manifest"],
)
def test_a_damaged_backup_is_refused_before_anything_is_touched(campus, tmp_path, damage, named, said):
    backup = tmp_path / "backup"
    made = campus.cli("backup", str(backup))
    assert made.returncode == 0, made.stderr
    damage(backup)

    fresh = tmp_path / "fresh-machine"
    fresh.mkdir()
    refused = run_cli("restore", str(backup), cwd=fresh)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert named in refused.stderr and said in refused.stderr and "Nothing was restored" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1
    assert list(fresh.iterdir()) == []

    # --force does not skip the check: the campus in use keeps its database and its file, byte for byte.
    database = campus.directory / "data" / "campushub.sqlite"
    before = sha256(database), sha256(campus.config_path)
    forced = campus.cli("restore", "--force", str(backup))
    assert forced.returncode == 2 and named in forced.stderr
    assert (sha256(database), sha256(campus.config_path)) == before


def test_restore_refuses_a_campus_in_use_and_backup_refuses_bad_places(campus, tmp_path):
    backup = tmp_path / "backup"
    assert campus.cli("backup", str(backup)).returncode == 0
    database = campus.directory / "data" / "campushub.sqlite"
    before = sha256(database)
    in_use = campus.cli("restore", str(backup))
    assert in_use.returncode == 2 and "--force" in in_use.stderr and "user record" in in_use.stderr
    assert sha256(database) == before

    not_empty = campus.cli("backup", str(backup))
    assert not_empty.returncode == 2 and "not empty" in not_empty.stderr
    no_parent = campus.cli("backup", str(tmp_path / "no" / "such" / "backup"))
    assert no_parent.returncode == 2 and "mkdir -p" in no_parent.stderr and "Traceback" not in no_parent.stderr

    # With --force the database that was there is moved aside, never deleted.
    forced = campus.cli("restore", "--force", str(backup))
    assert forced.returncode == 0, forced.stderr
    kept = sorted((campus.directory / "data").glob("campushub.sqlite.before-restore-*"))
    assert len(kept) == 1 and sha256(kept[0]) == before and str(kept[0]) in forced.stdout


def test_an_unreachable_postgresql_is_a_clear_error(campus, tmp_path):
    campus.update(**{"database.url": f"postgresql://campushub:not-shown-1@127.0.0.1:{free_port()}/campus"})
    backup = tmp_path / "backup"
    result = campus.cli("backup", str(backup))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pg_dump could not dump the hub database" in result.stderr and "Traceback" not in result.stderr
    assert "not-shown-1" not in result.stderr + result.stdout
    assert not backup.exists()  # nothing that could pass for a backup is left behind


@on_postgresql
def test_restore_into_postgresql_needs_an_empty_database(campus, postgres, tmp_path):
    backup = tmp_path / "backup"
    made = campus.cli("backup", str(backup))
    assert made.returncode == 0, made.stderr
    assert (backup / "database" / "campushub.pgdump").read_bytes()[:5] == b"PGDMP"
    assert postgres.password not in (backup / "manifest.json").read_text()

    # A second machine whose campus.yaml points at the database still in use: refused, even with --force.
    other = Campus(tmp_path / "other-machine", campus.port)
    other.directory.mkdir()
    shutil.copy(campus.config_path, other.config_path)
    refused = other.cli("restore", "--force", str(backup))
    assert refused.returncode == 2 and "is not empty" in refused.stderr
    assert postgres.password not in refused.stderr
    assert not (other.directory / "data").exists()

    empty = postgres.new_database()
    try:
        other.update(**{"database.url": empty})
        restored = other.cli("restore", str(backup))
        assert restored.returncode == 0, restored.stderr
        listed = other.cli("users", "list")
        assert listed.returncode == 0 and listed.stdout.startswith(f"{ADMIN}\tactive"), listed.stdout
    finally:
        postgres.drop_database(empty)
    assert os.listdir(other.directory / "data" / "secrets") == []
