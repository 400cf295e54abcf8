"""Password hashing: argon2id, salted, never the password itself."""

from __future__ import annotations

import pytest

from campushub.identity.passwords import hash_password, needs_rehash, verify_password

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(PASSWORD)


def test_hash_is_not_the_password(stored: str) -> None:
    assert stored != PASSWORD
    assert PASSWORD not in stored


def test_hash_is_argon2id(stored: str) -> None:
    assert stored.startswith("$argon2id$")


def test_right_password_verifies(stored: str) -> None:
    assert verify_password(stored, PASSWORD) is True


@pytest.mark.parametrize("wrong", ["", "correct horse battery stapl", PASSWORD.upper(), PASSWORD + " ", "x"])
def test_wrong_password_does_not_verify(stored: str, wrong: str) -> None:
    assert verify_password(stored, wrong) is False


@pytest.mark.parametrize("password", [PASSWORD, "", "campushub-no-such-account"])
def test_missing_account_never_verifies(password: str) -> None:
    assert verify_password(None, password) is False


@pytest.mark.parametrize("garbage", ["not-a-hash", "$argon2id$broken", "plaintext-password"])
def test_malformed_stored_hash_does_not_verify(garbage: str) -> None:
    assert verify_password(garbage, garbage) is False


def test_hashes_are_salted() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second
    assert verify_password(first, PASSWORD)
    assert verify_password(second, PASSWORD)


def test_unicode_passwords_round_trip() -> None:
    stored = hash_password("pässwörd-ünïcödé-🔑")
    assert verify_password(stored, "pässwörd-ünïcödé-🔑")
    assert not verify_password(stored, "passwörd-ünïcödé-🔑")


def test_fresh_hash_needs_no_rehash(stored: str) -> None:
    assert needs_rehash(stored) is False
