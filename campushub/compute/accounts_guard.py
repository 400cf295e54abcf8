"""Which system accounts a user's server may run as.

A server runs as `user_prefix + name`. If that name already belongs to an account CampusHub did not
make (an admin's, a service's, root under another name), starting a server as it would hand that
account to whoever signs in with the campus name. So a server runs only as an account that:

- has a uid in the machine's range for people (login.defs UID_MIN..UID_MAX, never 0), and
- was made by CampusHub (its GECOS full name is CampusHub's marker, which on Debian only root may
  change: CHFN_RESTRICT leaves the full name out), or is named in `compute.local.adopt_accounts`.
"""

from __future__ import annotations

import pwd
from collections.abc import Collection, Iterable

from campushub.compute.forkserver import uid_range

MARKER = "CampusHub user"


class UnusableAccount(Exception):
    """The system account for a campus user must not run their server; the message says why (for the log)."""

    def __init__(self, account: str, reason: str) -> None:
        super().__init__(f"system account {account}: {reason}")
        self.account = account
        self.reason = reason


def made_by_campushub(entry: pwd.struct_passwd) -> bool:
    """Whether the account's full name (the GECOS field before the first comma) is CampusHub's marker."""
    return entry.pw_gecos.split(",", 1)[0] == MARKER


def account_problem(entry: pwd.struct_passwd, people: tuple[int, int], adopt: Collection[str]) -> str | None:
    """Why a server must not run as `entry`, or None. Adoption never allows root or a system uid."""
    low, high = people
    if entry.pw_uid == 0:
        return "it has uid 0 (root)"
    if not low <= entry.pw_uid <= high:
        return (
            f"its uid {entry.pw_uid} is outside the range for people ({low}-{high} in /etc/login.defs): "
            "it is a system account"
        )
    if not made_by_campushub(entry) and entry.pw_name not in adopt:
        return (
            f"it exists but CampusHub did not create it (its full name is {entry.pw_gecos.split(',', 1)[0]!r}, "
            f"not {MARKER!r}); if it is this campus user's, add it to `compute.local.adopt_accounts`"
        )
    return None


def check_account(entry: pwd.struct_passwd, adopt: Collection[str] = ()) -> pwd.struct_passwd:
    """`entry` if a server may run as it; UnusableAccount otherwise."""
    problem = account_problem(entry, uid_range(), adopt)
    if problem:
        raise UnusableAccount(entry.pw_name, problem)
    return entry


def system_accounts(entries: Iterable[pwd.struct_passwd], people: tuple[int, int]) -> list[str]:
    """Names of the accounts outside the range for people: root, daemons, services."""
    low, high = people
    return [entry.pw_name for entry in entries if not low <= entry.pw_uid <= high]


def prefix_clashes(prefix: str, entries: Iterable[pwd.struct_passwd], people: tuple[int, int]) -> list[str]:
    """System accounts whose names begin with `prefix`: a campus user could be given one of them."""
    return sorted(name for name in system_accounts(entries, people) if name.startswith(prefix))
