"""Who a Kerberos ticket makes someone, what a keytab holds, and what campus.yaml may say about it."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from campushub.config.loader import parse_config
from campushub.errors import UserError
from campushub.identity.kerberos import is_ntlm, negotiate_token
from campushub.identity.kerberos_names import (
    KeytabError,
    Principal,
    PrincipalRefused,
    matching,
    parse_principal,
    read_keytab,
    username_for,
)


def keytab_record(principal: Principal, kvno: int = 3) -> bytes:
    """One record as MIT's file keytab (0x0502) stores it, with a 16-byte key."""

    def counted(value: str | bytes) -> bytes:
        data = value.encode() if isinstance(value, str) else value
        return struct.pack(">H", len(data)) + data

    body = struct.pack(">H", len(principal.components)) + counted(principal.realm)
    body += b"".join(counted(part) for part in principal.components)
    body += (
        struct.pack(">IIB", 1, 1700000000, kvno) + struct.pack(">H", 17) + counted(bytes(16)) + struct.pack(">I", kvno)
    )
    return struct.pack(">i", len(body)) + body


def test_a_persons_principal_of_an_allowed_realm_is_their_login_name():
    assert username_for("alice@AD.EXAMPLE.EDU", ["AD.EXAMPLE.EDU"]) == "alice"
    with pytest.raises(PrincipalRefused, match="not one of the allowed realms"):
        username_for("alice@OTHER.EXAMPLE.EDU", ["AD.EXAMPLE.EDU"])
    with pytest.raises(PrincipalRefused, match="realm"):
        username_for("alice@ad.example.edu", ["AD.EXAMPLE.EDU"])  # realms are case-sensitive
    with pytest.raises(PrincipalRefused, match="has an instance"):
        username_for("alice/admin@AD.EXAMPLE.EDU", ["AD.EXAMPLE.EDU"])
    with pytest.raises(PrincipalRefused):
        username_for("alice", ["AD.EXAMPLE.EDU"])  # no realm at all


def test_service_principals_parse_to_the_host_based_name_gssapi_uses():
    principal = parse_principal("HTTP/notebooks.example.edu@AD.EXAMPLE.EDU")
    assert principal.components == ("HTTP", "notebooks.example.edu") and principal.realm == "AD.EXAMPLE.EDU"
    assert principal.service_host == "HTTP@notebooks.example.edu"
    assert str(parse_principal("HTTP/notebooks.example.edu")) == "HTTP/notebooks.example.edu"
    for bad in ("", "HTTP//x", "@REALM"):
        with pytest.raises(ValueError, match="not a Kerberos principal"):
            parse_principal(bad)


def test_a_keytab_lists_its_principals_once_each_and_a_broken_one_is_said_so(tmp_path: Path):
    http = Principal(("HTTP", "notebooks.example.edu"), "AD.EXAMPLE.EDU")
    host = Principal(("host", "notebooks.example.edu"), "AD.EXAMPLE.EDU")
    keytab = tmp_path / "http.keytab"
    hole = struct.pack(">i", -8) + bytes(8)  # a removed key's space
    keytab.write_bytes(
        struct.pack(">H", 0x0502) + keytab_record(http) + hole + keytab_record(http) + keytab_record(host)
    )
    assert read_keytab(keytab) == [http, host]
    assert matching(read_keytab(keytab), parse_principal("HTTP/notebooks.example.edu")) == [http]
    assert matching(read_keytab(keytab), parse_principal("HTTP/notebooks.example.edu@OTHER.EDU")) == []

    keytab.write_bytes(keytab.read_bytes()[:-30])
    with pytest.raises(KeytabError, match="damaged"):
        read_keytab(keytab)
    keytab.write_text("not a keytab")
    with pytest.raises(KeytabError, match="is not a Kerberos keytab"):
        read_keytab(keytab)
    with pytest.raises(KeytabError, match="cannot be read"):
        read_keytab(tmp_path / "missing.keytab")


def test_only_a_negotiate_header_carries_a_token_and_ntlm_is_told_apart():
    assert negotiate_token("Negotiate YIIC6QYGKwYB") == "YIIC6QYGKwYB"
    assert negotiate_token("negotiate  YIIC ") == "YIIC"
    assert negotiate_token("Basic YWxpY2U6cHc=") is None and negotiate_token("Negotiate") is None
    assert is_ntlm("TlRMTVNTUAABAAAAB4IIogAAAAA=") and not is_ntlm("YIIC6QYGKwYBBQUCoIIC3TCC")


def test_campus_yaml_must_say_who_may_sign_in_and_where_groups_come_from():
    base = "name: T\nsign_in:\n  kerberos:\n    keytab: /etc/campushub/http.keytab\n"
    config = parse_config(base + "    allow_all: true\n")
    assert [method.kind for method in config.sign_in.instances()] == ["negotiate"]
    for extra, said in (
        ("", "say who may sign in"),
        ("    allowed_groups: [students]\n", "`allowed_groups` needs `groups_from_ldap`"),
        ("    allowed_groups: [students]\n    groups_from_ldap: ad\n", "names no `ldap` sign-in method"),
        ("    allow_all: true\n    service_principal: HTTP\n", "write the service principal as"),
    ):
        with pytest.raises(UserError, match=said):
            parse_config(base + extra)


def test_check_says_when_the_keytab_lacks_the_service_principal(tmp_path: Path):
    keytab = tmp_path / "http.keytab"
    other = Principal(("HTTP", "old-name.example.edu"), "AD.EXAMPLE.EDU")
    keytab.write_bytes(struct.pack(">H", 0x0502) + keytab_record(other))
    text = f"name: T\nsign_in:\n  kerberos:\n    keytab: {keytab}\n    allow_all: true\n"
    method = parse_config(text + "    service_principal: HTTP/notebooks.example.edu\n").sign_in.instances()[0]
    [(name, problem), *_] = method.probes()
    assert problem and "no key for HTTP/notebooks.example.edu in it (it holds HTTP/old-name.example.edu@" in problem
    method = parse_config(text + "    service_principal: HTTP/old-name.example.edu\n").sign_in.instances()[0]
    [(name, problem), *_] = method.probes()
    assert problem is None and name.endswith("(HTTP/old-name.example.edu@AD.EXAMPLE.EDU)")
