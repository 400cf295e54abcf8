"""The `slapd` fixture is a real OpenLDAP, seeded as the LDAP / Active Directory sign-in tests expect."""

from __future__ import annotations

import ssl

import ldap3
import pytest
from ldap3.core.exceptions import LDAPSocketOpenError

from tests.components.slapd import Directory

pytestmark = pytest.mark.integration


def alice_dn(directory: Directory) -> str:
    return f"uid=alice,{directory.people_dn}"


def trusting(ca_file: str | None) -> ldap3.Tls:
    """Verify the server certificate for real: against `ca_file` (None: the system's CAs)."""
    return ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file)


def as_reader(directory: Directory) -> ldap3.Connection:
    server = ldap3.Server(directory.url)
    return ldap3.Connection(server, directory.reader_dn, directory.reader_password, auto_bind=True)


def read_entry(conn: ldap3.Connection, dn: str, *attributes: str) -> dict[str, list]:
    assert conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=list(attributes)), conn.result
    return conn.entries[0].entry_attributes_as_dict


def test_alice_binds_over_plain_ldap(slapd: Directory):
    conn = ldap3.Connection(ldap3.Server(slapd.url), alice_dn(slapd), slapd.passwords["alice"])
    assert conn.bind(), conn.result
    assert conn.extend.standard.who_am_i() == f"dn:{alice_dn(slapd)}"


def test_alice_binds_after_starttls(slapd: Directory):
    server = ldap3.Server(slapd.url, tls=trusting(str(slapd.ca_cert)))
    conn = ldap3.Connection(server, alice_dn(slapd), slapd.passwords["alice"])
    conn.open()
    assert conn.start_tls(), conn.result
    assert conn.tls_started
    assert conn.bind(), conn.result


def test_alice_binds_over_ldaps(slapd: Directory):
    server = ldap3.Server(slapd.ldaps_url, use_ssl=True, tls=trusting(str(slapd.ca_cert)))
    conn = ldap3.Connection(server, alice_dn(slapd), slapd.passwords["alice"])
    assert conn.bind(), conn.result
    assert conn.extend.standard.who_am_i() == f"dn:{alice_dn(slapd)}"


def test_ldaps_certificate_is_really_checked(slapd: Directory):
    """The throwaway CA is the only one that vouches for the server: the system's CAs do not."""
    server = ldap3.Server(slapd.ldaps_url, use_ssl=True, tls=trusting(None), connect_timeout=5)
    conn = ldap3.Connection(server, alice_dn(slapd), slapd.passwords["alice"])
    with pytest.raises(LDAPSocketOpenError):
        conn.open()


def test_ldaps_certificate_names_only_the_loopback_address(slapd: Directory):
    """The certificate is for IP 127.0.0.1; reaching the same server as `localhost` fails the name check."""
    server = ldap3.Server(f"ldaps://localhost:{slapd.ldaps_port}", tls=trusting(str(slapd.ca_cert)), connect_timeout=5)
    with pytest.raises(LDAPSocketOpenError, match="doesn't match"):
        ldap3.Connection(server).open()


def test_wrong_password_fails(slapd: Directory):
    conn = ldap3.Connection(ldap3.Server(slapd.url), alice_dn(slapd), "not-alices-password")
    assert not conn.bind()
    assert conn.result["description"] == "invalidCredentials"


@pytest.mark.parametrize("name", ["alice", "bob", "carol", "dave", "erin"])
def test_every_uid_person_signs_in(slapd: Directory, name: str):
    conn = ldap3.Connection(ldap3.Server(slapd.url), f"uid={name},{slapd.people_dn}", slapd.passwords[name])
    assert conn.bind(), conn.result


def test_reader_finds_frank_by_sam_account_name(slapd: Directory):
    conn = as_reader(slapd)
    attributes = ["sAMAccountName", "userPrincipalName", "uid"]
    assert conn.search(slapd.base_dn, "(sAMAccountName=frank)", attributes=attributes), conn.result
    [frank] = conn.entries
    assert frank.entry_dn == f"cn=Frank Miller,{slapd.people_dn}"
    found = frank.entry_attributes_as_dict
    assert found["userPrincipalName"] == ["frank@campus.test"]
    assert not found.get("uid")
    assert ldap3.Connection(ldap3.Server(slapd.url), frank.entry_dn, slapd.passwords["frank"]).bind()


def test_reader_sees_alice_in_students(slapd: Directory):
    memberships = read_entry(as_reader(slapd), alice_dn(slapd), "memberOf")["memberOf"]
    assert slapd.group_dn("students") in memberships


def test_alice_reads_her_own_memberships(slapd: Directory):
    server = ldap3.Server(slapd.url)
    alice = ldap3.Connection(server, alice_dn(slapd), slapd.passwords["alice"], auto_bind=True)
    assert read_entry(alice, alice_dn(slapd), "memberOf")["memberOf"] == [slapd.group_dn("students")]


def test_physics_holds_students_as_a_nested_group(slapd: Directory):
    members = read_entry(as_reader(slapd), slapd.group_dn("physics"), "member")["member"]
    assert members == [slapd.group_dn("students")]


def test_loop_groups_contain_each_other(slapd: Directory):
    reader = as_reader(slapd)
    assert slapd.group_dn("loop-b") in read_entry(reader, slapd.group_dn("loop-a"), "member")["member"]
    assert slapd.group_dn("loop-a") in read_entry(reader, slapd.group_dn("loop-b"), "member")["member"]


def test_bob_is_a_member_uid_of_lab(slapd: Directory):
    lab = read_entry(as_reader(slapd), slapd.group_dn("lab"), "memberUid", "gidNumber", "objectClass")
    assert lab["memberUid"] == ["bob"]
    assert "posixGroup" in lab["objectClass"]


def test_erin_is_in_no_group_that_may_sign_in(slapd: Directory):
    entry = read_entry(as_reader(slapd), f"uid=erin,{slapd.people_dn}", "memberOf")
    assert entry.get("memberOf") == [slapd.group_dn("visitors")]


def test_reader_cannot_read_passwords(slapd: Directory):
    entry = read_entry(as_reader(slapd), alice_dn(slapd), "userPassword", "mail")
    assert entry["mail"] == ["alice@campus.test"]
    assert not entry.get("userPassword")


def test_anonymous_reads_nothing(slapd: Directory):
    anonymous = ldap3.Connection(ldap3.Server(slapd.url), auto_bind=True)
    anonymous.search(slapd.base_dn, "(uid=alice)", attributes=["mail"])
    assert anonymous.entries == []
