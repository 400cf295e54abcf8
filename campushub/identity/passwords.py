"""Password hashing for built-in accounts.

argon2id through argon2-cffi: slow on purpose, salted, and self-describing,
so parameters can be raised later and old hashes still verify (and get
re-hashed on the next successful sign-in).
"""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the account does not exist, so that a wrong username
# costs as much time as a wrong password and names cannot be probed by timing.
_DUMMY_HASH = _hasher.hash("campushub-no-such-account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        matches = _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and bool(stored_hash)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
