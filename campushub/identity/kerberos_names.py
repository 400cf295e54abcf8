"""Kerberos names for Windows integrated sign-in: keytab contents and principal -> CampusHub username.

Kept free of the GSSAPI library so that `campushub check` can read a keytab on a machine where the
`kerberos` extra is not installed yet, and so that the rules deciding who a ticket makes someone are
plain functions.

The keytab is read here rather than through `klist -k`, which is not installed on every hub machine
(Debian's krb5-user). The format is MIT's file keytab, version 0x0502, which `ktpass` (Active
Directory), `kadmin ktadd` and `ktutil` all write: a sequence of records, each a principal and one key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

KEYTAB_VERSION = 0x0502


class KeytabError(ValueError):
    """A keytab that cannot be used, with what is wrong with it."""


class PrincipalRefused(ValueError):
    """A ticket's principal that may not sign in here; the message says why, for the hub's log."""


@dataclass(frozen=True)
class Principal:
    """`alice@CAMPUS.EDU` or `HTTP/notebooks.campus.edu@CAMPUS.EDU`: name components and realm."""

    components: tuple[str, ...]
    realm: str

    def __str__(self) -> str:
        name = "/".join(self.components)
        return f"{name}@{self.realm}" if self.realm else name

    @property
    def service_host(self) -> str:
        """`service@host`, the host-based form GSSAPI names an acceptor by (empty for a non-service name)."""
        return f"{self.components[0]}@{self.components[1]}" if len(self.components) == 2 else ""


def parse_principal(text: str) -> Principal:
    """`primary[/instance]@REALM`; the realm may be missing (the keytab's realm is meant)."""
    name, _, realm = text.strip().rpartition("@") if "@" in text else (text.strip(), "", "")
    components = tuple(name.split("/"))
    if not name or any(not part for part in components):
        raise ValueError(f"{text!r} is not a Kerberos principal: write it as `HTTP/host.example.edu@REALM`")
    return Principal(components, realm)


def read_keytab(path: Path) -> list[Principal]:
    """The distinct principals a keytab holds keys for, in file order."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeytabError(
            f"{path} cannot be read ({exc.strerror}): check the path and that the hub may read it"
        ) from None
    if len(data) < 2 or struct.unpack(">H", data[:2])[0] != KEYTAB_VERSION:
        raise KeytabError(f"{path} is not a Kerberos keytab (version 0x0502, as ktpass and kadmin write)")
    found: list[Principal] = []
    offset = 2
    try:
        while offset + 4 <= len(data):
            (size,) = struct.unpack_from(">i", data, offset)
            offset += 4
            if size <= 0:  # a hole left by a removed key
                offset += -size
                continue
            if offset + size > len(data):
                raise struct.error("record past the end of the file")
            principal = _record_principal(data[offset : offset + size])
            offset += size
            if principal not in found:
                found.append(principal)
    except (struct.error, UnicodeDecodeError):
        raise KeytabError(f"{path} is damaged (a record past byte {offset} cannot be read): export it again") from None
    return found


def _record_principal(record: bytes) -> Principal:
    (count,) = struct.unpack_from(">H", record, 0)
    offset = 2
    strings = []
    for _ in range(count + 1):  # the realm, then each component
        (length,) = struct.unpack_from(">H", record, offset)
        offset += 2
        if offset + length > len(record):
            raise struct.error("string past the record")
        strings.append(record[offset : offset + length].decode("utf-8"))
        offset += length
    return Principal(tuple(strings[1:]), strings[0])


def matching(principals: list[Principal], wanted: Principal) -> list[Principal]:
    """The keytab's principals `wanted` names: the same components, and the same realm if it gives one."""
    return [
        principal
        for principal in principals
        if principal.components == wanted.components and (not wanted.realm or principal.realm == wanted.realm)
    ]


def username_for(principal_text: str, allowed_realms: list[str]) -> str:
    """The login name a ticket's client principal stands for: `alice@CAMPUS.EDU` -> `alice`.

    Only a plain person's principal of an allowed realm counts: `alice/admin@CAMPUS.EDU` is another
    identity than alice's (a Kerberos admin's), and a principal of a realm that is not allowed (one
    trusted by the campus's for other purposes) is not a campus member's, even with the same name.
    """
    principal = parse_principal(principal_text)
    if principal.realm not in allowed_realms:
        raise PrincipalRefused(
            f"{principal} is of realm {principal.realm or '(none)'}, not one of the allowed realms "
            f"({', '.join(allowed_realms) or 'none'})"
        )
    if len(principal.components) != 1:
        raise PrincipalRefused(f"{principal} has an instance ({'/'.join(principal.components[1:])}): not a person's")
    return principal.components[0]
