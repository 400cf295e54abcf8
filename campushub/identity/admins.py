"""Who `admins` in campus.yaml makes an admin, through which sign-in method.

A name in the list is only a name: whoever first signs in with it would get the rights. So a bare
name counts only through methods whose usernames the institution assigns (built-in accounts made by
an admin, the directory, an institutional OpenID provider), never through one where people pick
their own (GitHub); `method:name` counts through that one method alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from campushub.identity.accounts import REMOVED

AdminEntry = tuple[str, str | None]  # (name, owning method or None)


def entry_allows(entry_method: str | None, method: str, chosen_name_methods: Iterable[str]) -> bool:
    """Whether an `admins` entry for a name lets `method`'s user of that name be admin."""
    if entry_method is not None:
        return entry_method == method
    return method not in set(chosen_name_methods)


def admin_verdicts(
    entries: Iterable[AdminEntry], chosen_name_methods: Iterable[str], owner_of: Callable[[str], str | None]
) -> tuple[set[str], set[str]]:
    """(names to make admin now, listed names whose holder the entry does not allow).

    A listed name nobody holds yet is refused for now: whoever first signs in with it through an allowed
    method gets admin then, and no admin flag waits on an unclaimed name for the wrong person.
    """
    chosen = set(chosen_name_methods)
    granted: set[str] = set()
    refused: set[str] = set()
    for name, method in entries:
        owner = owner_of(name)
        if owner is not None and owner != REMOVED and entry_allows(method, owner, chosen):
            granted.add(name)
        else:
            refused.add(name)
    return granted, refused - granted
