"""AccountStore against real databases (an SQLite file, a PostgreSQL database): accounts, approval, removal, invites."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from campushub.identity.accounts import ACTIVE, PENDING, AccountExists, AccountStore, NoSuchAccount
from tests.helpers.databases import stored_bytes

PASSWORD = "alice-password-1"


@pytest.fixture
def store(db_url: str) -> Iterator[AccountStore]:
    store = AccountStore(db_url)
    yield store
    store.dispose()


def test_created_account_verifies_with_right_password(store: AccountStore) -> None:
    store.create("alice", PASSWORD)
    info = store.verify("alice", PASSWORD)
    assert info is not None
    assert info.name == "alice"
    assert info.status == ACTIVE


@pytest.mark.parametrize("wrong", ["", "alice-password-2", PASSWORD.upper(), " " + PASSWORD])
def test_wrong_password_does_not_verify(store: AccountStore, wrong: str) -> None:
    store.create("alice", PASSWORD)
    assert store.verify("alice", wrong) is None


def test_unknown_account_does_not_verify(store: AccountStore) -> None:
    assert store.verify("nobody", PASSWORD) is None


def test_password_is_not_stored_in_clear(store: AccountStore, db_url: str) -> None:
    store.create("alice", PASSWORD)
    store.dispose()
    assert PASSWORD.encode() not in stored_bytes(db_url)


def test_create_twice_raises(store: AccountStore) -> None:
    store.create("alice", PASSWORD)
    with pytest.raises(AccountExists):
        store.create("alice", "another-password-1")
    assert store.verify("alice", PASSWORD) is not None


def test_get_and_list(store: AccountStore) -> None:
    store.create("bob", PASSWORD)
    store.create("alice", PASSWORD)
    assert store.get("nobody") is None
    bob = store.get("bob")
    assert bob is not None and bob.status == ACTIVE and bob.created is not None
    assert [a.name for a in store.list()] == ["alice", "bob"]


def test_accounts_persist_in_the_database(store: AccountStore, db_url: str) -> None:
    store.create("alice", PASSWORD)
    store.dispose()
    reopened = AccountStore(db_url)
    try:
        assert reopened.verify("alice", PASSWORD) is not None
    finally:
        reopened.dispose()


def test_pending_account_until_approved(store: AccountStore) -> None:
    store.create("carol", PASSWORD, status=PENDING)
    info = store.verify("carol", PASSWORD)
    assert info is not None and info.status == PENDING
    assert [a.name for a in store.list(PENDING)] == ["carol"]
    assert store.list(ACTIVE) == []
    store.approve("carol")
    info = store.verify("carol", PASSWORD)
    assert info is not None and info.status == ACTIVE
    assert store.list(PENDING) == []


def test_approve_unknown_account_raises(store: AccountStore) -> None:
    with pytest.raises(NoSuchAccount):
        store.approve("nobody")


def test_set_password(store: AccountStore) -> None:
    store.create("alice", PASSWORD)
    store.set_password("alice", "new-password-22")
    assert store.verify("alice", PASSWORD) is None
    assert store.verify("alice", "new-password-22") is not None


def test_set_password_unknown_account_raises(store: AccountStore) -> None:
    with pytest.raises(NoSuchAccount):
        store.set_password("nobody", PASSWORD)


def test_remove(store: AccountStore) -> None:
    store.create("alice", PASSWORD)
    store.create("bob", PASSWORD)
    store.remove("alice")
    assert store.get("alice") is None
    assert store.verify("alice", PASSWORD) is None
    assert [a.name for a in store.list()] == ["bob"]


def test_remove_unknown_account_raises(store: AccountStore) -> None:
    with pytest.raises(NoSuchAccount):
        store.remove("nobody")


def test_removed_name_can_be_created_again(store: AccountStore) -> None:
    store.create("alice", PASSWORD)
    store.remove("alice")
    store.create("alice", "fresh-password-1")
    assert store.verify("alice", PASSWORD) is None
    assert store.verify("alice", "fresh-password-1") is not None


# --- invites ----------------------------------------------------------------------------------------------------


def test_single_use_invite_works_once(store: AccountStore) -> None:
    code = store.create_invite(1, timedelta(days=14))
    assert store.redeem_invite(code) is True
    assert store.redeem_invite(code) is False


def test_multi_use_invite_is_used_up(store: AccountStore) -> None:
    code = store.create_invite(3, timedelta(days=14))
    assert [store.redeem_invite(code) for _ in range(4)] == [True, True, True, False]


def test_expired_invite_is_refused(store: AccountStore) -> None:
    code = store.create_invite(5, timedelta(days=-1))
    assert store.redeem_invite(code) is False


def test_invite_just_expired_is_refused(store: AccountStore) -> None:
    code = store.create_invite(1, timedelta(seconds=-1))
    assert store.redeem_invite(code) is False


@pytest.mark.parametrize("code", ["", "not-a-code", "x" * 16])
def test_unknown_invite_is_refused(store: AccountStore, code: str) -> None:
    store.create_invite(1, timedelta(days=1))
    assert store.redeem_invite(code) is False


def test_invites_are_independent(store: AccountStore) -> None:
    first = store.create_invite(1, timedelta(days=1))
    second = store.create_invite(1, timedelta(days=1))
    assert first != second
    assert store.redeem_invite(first) is True
    assert store.redeem_invite(second) is True


def test_invite_code_tolerates_surrounding_whitespace(store: AccountStore) -> None:
    code = store.create_invite(1, timedelta(days=1))
    assert store.redeem_invite(f"  {code}\n") is True


def test_invite_code_is_not_stored_in_clear(store: AccountStore, db_url: str) -> None:
    code = store.create_invite(1, timedelta(days=1))
    store.dispose()
    assert code.encode() not in stored_bytes(db_url)


def test_invite_survives_reopening(store: AccountStore, db_url: str) -> None:
    code = store.create_invite(2, timedelta(days=1))
    assert store.redeem_invite(code) is True
    store.dispose()
    reopened = AccountStore(db_url)
    try:
        assert reopened.redeem_invite(code) is True
        assert reopened.redeem_invite(code) is False
    finally:
        reopened.dispose()


def test_a_name_that_published_in_the_library_is_not_released_to_the_next_person(
    store: AccountStore, db_url: str, tmp_path: Path
) -> None:
    from campushub.errors import UserError
    from campushub.library.store import LibraryStore, Metadata
    from campushub.removal import release_name

    library = LibraryStore(db_url, tmp_path / "library")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.md").write_text("# mine\n")
    library.publish("bob", "thesis", tmp_path / "work", Metadata(title="Thesis", visibility="private"),
                    max_project_size=1 << 20, max_user_size=1 << 20)  # fmt: skip
    library.dispose()
    for name in ("bob", "carol"):
        store.retire(name)
    with pytest.raises(UserError, match=r"'bob' published 1 project\(s\) in the library \(bob/thesis\)"):
        release_name(store, db_url, "bob")
    assert store.removed("bob"), "the name stays reserved"
    assert release_name(store, db_url, "carol").startswith("released")
