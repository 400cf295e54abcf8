"""Campus usernames.

One rule everywhere: a username is lower-cased and must then consist of
allowed characters only. Anything else is rejected rather than rewritten, so
two different people can never end up sharing one account or one system user.
"""

import re

MAX_LENGTH = 24  # leaves room for a system-account prefix within Linux's 32
# Dots only between other characters (campus logins like `jane.doe`): never `..`, never at either end,
# so a name can never be a path step of its own or hide a dot file.
PATTERN = r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$"
_ALLOWED = re.compile(PATTERN)


class InvalidUsername(ValueError):
    """The name cannot become a CampusHub username; the message says why."""


def normalize_username(raw: str) -> str:
    """Return the canonical form of `raw` or raise InvalidUsername."""
    name = raw.strip()
    if not name.isascii():
        # Checked before any Unicode normalization or lower-casing: both turn the Kelvin sign into "k".
        raise InvalidUsername(f"{raw!r} is not a valid username: use ASCII letters, digits, '.', '-' or '_'")
    name = name.lower()
    if not name:
        raise InvalidUsername("a username cannot be empty")
    if len(name) > MAX_LENGTH:
        raise InvalidUsername(f"usernames have at most {MAX_LENGTH} characters")
    if not _ALLOWED.match(name):
        raise InvalidUsername(
            f"{raw!r} is not a valid username: use a letter first, then lower-case letters, digits, '-', '_' "
            "or single dots between them"
        )
    return name


def campus_username(value: str, domains: list[str]) -> str:
    """`Alice@Uni.edu` -> `alice` when uni.edu is one of `domains`; a name without @ is used as it is."""
    local, at, domain = value.strip().partition("@")
    if at:
        if domain.lower() not in [d.lower() for d in domains]:
            raise InvalidUsername(f"{value!r} is not from {', '.join(domains) or 'an allowed domain'}")
        value = local
    return normalize_username(value)


class CampusUsernamesMixin:
    """Authenticator methods applying CampusHub's username rule (JupyterHub's default only lower-cases)."""

    def normalize_username(self, username: str) -> str:
        try:
            return normalize_username(username)
        except InvalidUsername:
            # validate_username then rejects it; never rewrite into someone else's name.
            return username

    def validate_username(self, username: str) -> bool:
        try:
            return normalize_username(username) == username
        except InvalidUsername:
            return False
