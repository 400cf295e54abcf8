"""Names nobody may take by signing up.

Sign-up lets a visitor choose a name. Some names must never be choosable: those with a meaning on
the machine or for administrators (a sign-up as `admin` or `root` looks official to everyone who sees
it), the names campus.yaml makes admin (whoever took one first would be admin), names the campus
reserves itself, and removed users' names (the next holder would inherit what is left of the old one).
"""

from __future__ import annotations

import pwd
from collections.abc import Iterable

from campushub.compute.accounts_guard import system_accounts
from campushub.compute.forkserver import uid_range

ALWAYS_RESERVED = frozenset({"root", "admin", "administrator", "administrators", "superuser", "campushub"})


def system_account_names() -> set[str]:
    """Names of the machine's system accounts (root, daemon, www-data, postgres ...)."""
    return {name.lower() for name in system_accounts(pwd.getpwall(), uid_range())}


def is_reserved(name: str, admin_names: Iterable[str], campus_reserved: Iterable[str]) -> bool:
    """Whether sign-up must refuse `name` (removed users' names are the account store's to say).

    One answer for every reason, so the sign-up page does not tell visitors which names are admins'.
    """
    return (
        name in ALWAYS_RESERVED
        or name in system_account_names()
        or name in set(admin_names)
        or name in set(campus_reserved)
    )
