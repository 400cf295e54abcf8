"""Course rosters read from a real OpenLDAP (Debian slapd): nested, posix and cyclic groups, allow rules, failures."""

from __future__ import annotations

import pytest

from campushub.courses.directory import DirectoryUnavailable, directory_roster, uses_directory_rosters
from campushub.identity.methods.ldap import LdapSignIn

pytestmark = pytest.mark.integration


def ldap_settings(slapd, **changes) -> LdapSignIn:
    config = slapd.sign_in_config("UNUSED", **changes)
    config["search"]["bind_password"] = slapd.reader_password
    return LdapSignIn.model_validate(config)


def test_nested_groups_are_followed_down_to_people(slapd):
    # physics holds the students group, which holds alice, bob and frank (frank has no uid: AD-shaped).
    roster = directory_roster(ldap_settings(slapd), ["physics"])
    assert roster.usernames == {"alice", "bob"}
    assert roster.unnamed == {f"cn=Frank Miller,{slapd.people_dn}"}
    assert not roster.not_allowed and not roster.unknown_groups


def test_posix_groups_a_cycle_and_a_group_given_by_dn(slapd):
    roster = directory_roster(ldap_settings(slapd), ["lab", slapd.group_dn("loop-b")])
    assert roster.usernames == {"bob", "carol"}  # lab by memberUid; loop-b -> loop-a -> carol, and back: stops


def test_people_sign_in_would_refuse_are_left_out(slapd):
    roster = directory_roster(ldap_settings(slapd), ["visitors", "staff"])
    assert roster.usernames == {"carol"}
    assert roster.not_allowed == {"erin"}


def test_allow_all_keeps_everyone(slapd):
    roster = directory_roster(ldap_settings(slapd, allow_all=True, allowed_groups=[]), ["visitors"])
    assert roster.usernames == {"erin"}


def test_admin_groups_count_as_allowed(slapd):
    assert directory_roster(ldap_settings(slapd), ["hub-admins"]).usernames == {"dave"}


def test_active_directory_login_names(slapd):
    """With sAMAccountName as the login attribute the AD-shaped entry is named, and the uid-only ones are not."""
    settings = ldap_settings(slapd)
    settings.search.user_attribute = "sAMAccountName"
    roster = directory_roster(settings, ["students"])
    assert roster.usernames == {"frank"}
    assert len(roster.unnamed) == 2


def test_groups_the_directory_lacks_are_noted_not_fatal(slapd):
    roster = directory_roster(ldap_settings(slapd), ["no-such-group", "staff", "cn=nothing,dc=campus,dc=test"])
    assert roster.usernames == {"carol"}
    assert roster.unknown_groups == {"no-such-group", "cn=nothing,dc=campus,dc=test"}


def test_a_filter_in_a_group_name_is_only_a_name(slapd):
    roster = directory_roster(ldap_settings(slapd), ["*", "students)(cn=*"])
    assert roster.usernames == set()
    assert roster.unknown_groups == {"*", "students)(cn=*"}


def test_a_wrong_search_password_says_which_bind_failed(slapd):
    settings = ldap_settings(slapd)
    settings.search.bind_password = "wrong"
    with pytest.raises(DirectoryUnavailable, match=r"bind as cn=reader,dc=campus,dc=test failed: invalidCredentials"):
        directory_roster(settings, ["students"])


def test_an_unreachable_directory_says_where(slapd):
    settings = ldap_settings(slapd, url="ldap://127.0.0.1:1")
    with pytest.raises(DirectoryUnavailable, match=r"the directory at ldap://127.0.0.1:1 could not be searched"):
        directory_roster(settings, ["students"])


def test_rosters_need_a_search_account_and_a_groups_base(slapd):
    assert uses_directory_rosters(ldap_settings(slapd))
    assert not uses_directory_rosters(ldap_settings(slapd, groups_base=None))
    without_search = slapd.sign_in_config("UNUSED", bind_dn_templates=["uid={username},ou=people,dc=campus,dc=test"])
    del without_search["search"]
    assert not uses_directory_rosters(LdapSignIn.model_validate(without_search))
    assert not uses_directory_rosters(None)
