"""Who owns a username: claims, requests that wait, removed names, provider ids, admin entries, archives."""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from campushub.archive import ArchiveError, owned_files, write_archive
from campushub.config.loader import parse_config
from campushub.errors import UserError
from campushub.identity.accounts import PENDING, REMOVED, AccountStore
from campushub.identity.admins import admin_verdicts, entry_allows
from campushub.identity.reserved import is_reserved

PASSWORD = "a-long-password-1"


@pytest.fixture
def store(db_url: str) -> Iterator[AccountStore]:
    store = AccountStore(db_url)
    yield store
    store.dispose()


def test_a_pending_request_claims_no_name(store: AccountStore) -> None:
    store.create("dave", PASSWORD, status=PENDING)
    assert store.owner("dave") is None
    assert store.claim("dave", "ldap") == "ldap"
    assert [(r.name, r.method, r.state) for r in store.names()] == [("dave", "ldap", "claimed, pending request")]


def test_an_active_account_is_locals(store: AccountStore) -> None:
    store.create("erin", PASSWORD)
    assert store.claim("erin", "ldap") == "local"


def test_a_retired_name_is_reserved_until_released(store: AccountStore) -> None:
    store.create("bob", PASSWORD)
    store.claim("bob", "local")
    store.link_email("bob@uni.edu", "bob")
    store.bind_subject("github", "42", "bob")
    store.retire("bob", "/archive/bob.tar.gz")
    assert store.get("bob") is None
    assert store.claim("bob", "ldap") == REMOVED
    assert store.owner("bob") == REMOVED
    assert store.linked_account("bob@uni.edu") is None
    assert store.name_for_subject("github", "42") is None
    assert [(r.name, r.method, r.state) for r in store.names()] == [("bob", "local", "removed")]
    assert store.release("bob") is True
    assert store.release("bob") is False
    assert store.claim("bob", "ldap") == "ldap"


def test_an_admin_entry_assigns_its_name(store: AccountStore) -> None:
    store.create("alice", PASSWORD)
    assert store.assign("alice", "ldap") == "ldap"
    assert store.owner("alice") == "ldap"
    store.retire("alice")
    assert store.assign("alice", "ldap") == REMOVED


def test_provider_ids_map_to_the_first_account(store: AccountStore) -> None:
    store.bind_subject("github", "7", "ada")
    store.bind_subject("github", "7", "someone-else")
    assert store.name_for_subject("github", "7") == "ada"
    assert store.subject_of("github", "ada") == "7"
    assert store.subject_of("github", "someone-else") is None


def test_config_admins_remembered(store: AccountStore) -> None:
    store.set_config_admins({"a", "b"})
    store.set_config_admins({"b", "c"})
    assert store.config_admins() == {"b", "c"}


@pytest.mark.parametrize(
    ("entry_method", "method", "allowed"),
    [(None, "local", True), (None, "ldap", True), (None, "gh", False), ("gh", "gh", True), ("ldap", "local", False)],
)
def test_which_methods_an_admin_entry_counts_through(entry_method, method, allowed) -> None:
    assert entry_allows(entry_method, method, ["gh"]) is allowed


def test_admin_verdicts_follow_who_holds_each_name() -> None:
    owners = {"admin": "local", "ada": "gh", "prof": "ldap", "gone": REMOVED}
    entries = [("admin", None), ("ada", None), ("prof", "ldap"), ("gone", None), ("nobody", None)]
    granted, refused = admin_verdicts(entries, ["gh"], owners.get)
    assert granted == {"admin", "prof"}
    assert refused == {"ada", "gone", "nobody"}


def test_reserved_names() -> None:
    assert is_reserved("root", [], [])
    assert is_reserved("administrator", [], [])
    assert is_reserved("daemon", [], [])  # a system account on every Debian machine
    assert is_reserved("carol", ["carol"], [])
    assert is_reserved("dean", [], ["dean"])
    assert not is_reserved("dora", ["carol"], ["dean"])


# --- campus.yaml ------------------------------------------------------------------------------------------------


def test_admin_entries_parse_with_their_method() -> None:
    config = parse_config("admins: [Admin, 'local:Bob']\n")
    assert config.admins == ["admin", "local:bob"]
    assert config.admin_entries == [("admin", None), ("bob", "local")]
    assert config.admin_names == {"admin", "bob"}


def test_an_admin_entry_naming_an_unconfigured_method_is_an_error() -> None:
    with pytest.raises(UserError, match=r"campus.yaml:2: `admins`: 'gh:carol' names the sign-in method 'gh'"):
        parse_config("name: X\nadmins: ['gh:carol']\n")


@pytest.mark.parametrize(
    "sign_in",
    [
        "  link_by: username\n  local:\n    signup: open\n",
        "  link_by: username\n  oidc:\n    gh: {preset: github, client_id: x, client_secret: y, allow_all: true}\n",
    ],
)
def test_link_by_username_with_self_chosen_names_is_an_error(sign_in: str) -> None:
    with pytest.raises(UserError, match=r"campus.yaml:1: `sign_in`: `link_by: username` would let anyone"):
        parse_config("sign_in:\n" + sign_in)


def test_link_by_username_between_assigned_names_is_fine() -> None:
    config = parse_config("sign_in:\n  link_by: username\n  local: {}\n")
    assert config.sign_in.link_by == "username"


# --- archives ---------------------------------------------------------------------------------------------------


def test_an_archive_holds_every_file_with_a_manifest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "work").mkdir(parents=True)
    (home / "work" / "thesis.ipynb").write_text("{}")
    (home / ".hidden").write_text("x" * 1000)
    os.symlink("/etc/passwd", home / "link")  # archived as a link, never followed
    elsewhere = tmp_path / "tmp-file"
    elsewhere.write_text("scratch")
    archive = write_archive(tmp_path / "archive", "bob", home, [elsewhere], {"uid": 1234})
    assert oct(archive.path.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(archive.path) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        assert tar.getmember("home/link").issym()
    assert {"home/work/thesis.ipynb", "home/.hidden", "elsewhere" + str(elsewhere)} <= names
    assert manifest["uid"] == 1234 and manifest["total_bytes"] == 2 + 1000 + 7
    assert json.loads(archive.manifest_path.read_text()) == manifest


def test_an_archive_that_cannot_be_written_raises(tmp_path: Path) -> None:
    blocked = tmp_path / "archive"
    blocked.write_text("a file where the directory should be")
    with pytest.raises(ArchiveError):
        write_archive(blocked, "bob", tmp_path, [], {})


def test_owned_files_finds_top_most_entries_of_a_uid(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "inner").mkdir(parents=True)
    other = tmp_path / "other"
    other.mkdir()
    (other / "deep.txt").write_text("x")
    os.chown(mine, 4242, 4242)
    os.chown(mine / "inner", 4242, 4242)
    os.chown(other / "deep.txt", 4242, 4242)
    assert sorted(owned_files([tmp_path], 4242)) == [mine, other / "deep.txt"]


def test_a_socket_left_in_a_home_is_skipped_and_the_rest_archived(tmp_path: Path) -> None:
    import socket
    import tarfile

    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(home / "tmux-0"))  # what tmux or a kernel leaves behind
        archive = write_archive(tmp_path / "archive", "bob", home, [], {})
    with tarfile.open(archive.path) as tar:
        names = tar.getnames()
    assert "home/notes.txt" in names and "home/tmux-0" not in names
