"""campus.yaml's `sign_in.ldap` against the test directory, with the reader's password from the environment.

The directory and its people are tests/components/slapd.py's; this is how a hub is pointed at it, as
the admin guide recommends (`bind_password: ${CAMPUSHUB_TEST_LDAP_READER}`).
"""

from __future__ import annotations

READER_ENV = "CAMPUSHUB_TEST_LDAP_READER"


def ldap_config(slapd, **changes) -> dict:
    """`sign_in.ldap` for the running directory `slapd`; `changes` replace top-level keys."""
    return slapd.sign_in_config(READER_ENV, **changes)
