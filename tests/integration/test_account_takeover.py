"""Account takeover, tried as an attacker would: admin names, name reuse, lock-outs by request, renamed logins.

Each test is the attacker's move against a real hub (real sign-up, real slapd, the GitHub stand-in,
real system accounts) and what must come back.
"""

from __future__ import annotations

import json
import pwd
import re
import tarfile
from pathlib import Path

import pytest
import requests

from campushub.config.loader import load_config
from campushub.hub.layout import database_url, layout_for
from campushub.identity.lti_store import LtiStore
from campushub.services.access import service_token
from campushub.services.builtin import COURSES_SERVICE
from tests.components.oidc import login_through
from tests.helpers import oidc_people
from tests.helpers.databases import on_both_databases
from tests.helpers.github_people import ADA, BEN, CLIENT, SECRET_ENV, TESS, github_section
from tests.helpers.hub import ADMIN_PASSWORD, TEST_USER_PREFIX
from tests.helpers.hubclient import Student
from tests.helpers.ldap_settings import READER_ENV, ldap_config
from tests.helpers.sign_in import PASSWORD, ldap_student, me, sign_up, sso_sign_in

pytestmark = pytest.mark.integration


def local(hub, name: str, password: str = PASSWORD) -> Student:
    student = Student(hub.url, name)
    student.last_response = student.sign_in(password)
    return student


# --- 1. admin names ---------------------------------------------------------------------------------------------


def test_signing_up_as_an_unused_admin_name_gives_no_admin(campus, hub_factory):
    campus.update(**{"admins": ["admin", "carol"], "sign_in.local.signup": "open"})
    hub = hub_factory()
    response = sign_up(hub.url, "carol")
    assert response.status_code == 400 and "reserved" in response.text
    assert me(local(hub, "carol")) is None


def test_nobody_signs_up_as_a_reserved_name(campus, hub_factory):
    campus.update(**{"sign_in.local.signup": "open", "sign_in.local.reserved_names": ["dean"]})
    hub = hub_factory()
    for name in ("root", "Administrator", "daemon", "dean"):
        response = sign_up(hub.url, name)
        assert response.status_code == 400 and "reserved" in response.text, name
    # The same page still lets anyone else in.
    assert sign_up(hub.url, "dora").status_code == 200
    assert me(local(hub, "dora"))["admin"] is False


@on_both_databases
def test_a_name_taken_off_admins_loses_admin_at_the_next_start(campus, hub_factory):
    campus.add_user("bob", PASSWORD)
    campus.update(admins=["admin", "bob"])
    hub = hub_factory()
    bob = local(hub, "bob")
    assert me(bob)["admin"] is True
    hub.stop()
    campus.update(admins=["admin"])
    hub_factory()
    # Bob's session survives the restart; his admin rights do not.
    assert me(bob)["admin"] is False
    assert bob.hub_api("GET", "/users").status_code == 403


@pytest.fixture
def directory_hub(campus, hub_factory, slapd, monkeypatch):
    monkeypatch.setenv(READER_ENV, slapd.reader_password)

    def start(**changes: object):
        campus.update(**{"sign_in.ldap": ldap_config(slapd), "sign_in.local": {}, **changes})
        return hub_factory()

    return start


def test_being_listed_in_admins_opens_no_door_the_directory_keeps_shut(directory_hub, slapd):
    # erin is in the directory but in no group allowed to sign in.
    hub = directory_hub(admins=["admin", "erin"])
    erin = ldap_student(hub, slapd, "erin")
    assert erin.last_response.status_code == 403 and me(erin) is None
    # An admin group of the directory still makes admins.
    assert me(ldap_student(hub, slapd, "dave"))["admin"] is True


def test_an_admin_entry_gives_its_name_to_one_method(campus, directory_hub, slapd):
    campus.add_user("alice", PASSWORD)
    hub = directory_hub(admins=["admin", "ldap:alice"])
    # The built-in account `alice` (made before the entry said `ldap:`) cannot use the admin's name.
    impostor = local(hub, "alice")
    refusal = impostor.last_response
    assert refusal.status_code == 403 and "reserved for another sign-in method" in refusal.text
    assert me(impostor) is None
    assert me(ldap_student(hub, slapd, "alice"))["admin"] is True


def test_being_listed_in_admins_gets_no_one_past_a_providers_rules(campus, hub_factory, oidc_provider, monkeypatch):
    monkeypatch.setenv(oidc_people.SECRET_ENV, oidc_people.CLIENT_SECRET)
    provider = oidc_people.start_provider(oidc_provider, campus.url)
    campus.update(
        **{
            "sign_in.local": {},
            "sign_in.oidc": oidc_people.sign_in_settings(provider),
            "admins": ["admin", "alice", "erin", "henry", "leo"],
        }
    )
    hub = hub_factory()
    # Not in an allowed group, another Google Workspace, another Entra tenant: listed or not, refused.
    for method, person in (("campus", oidc_people.ERIN), ("google", oidc_people.HENRY), ("entra", oidc_people.LEO)):
        student, response = sso_sign_in(hub, method, person)
        assert response.status_code == 403 and me(student) is None, (method, person["username"])
    student, _ = sso_sign_in(hub, "campus", oidc_people.ALICE)
    assert me(student)["admin"] is True


@pytest.fixture
def github_hub(campus, hub_factory, github_standin, monkeypatch):
    """Built-in accounts and GitHub (cs101 team may sign in) on one page; `start(admins)` runs it."""
    monkeypatch.setenv(SECRET_ENV, CLIENT["client_secret"])
    github = github_standin(
        [{**CLIENT, "redirect_uri": f"{campus.url}/hub/oidc/github/oauth_callback"}], [ADA, BEN, TESS]
    )
    section = github_section(github.url)

    def start(admins: list[str]):
        campus.update(**{"sign_in.local": {}, "sign_in.oidc": {"github": section}, "admins": admins})
        return hub_factory(), github

    return start


def github_sign_in(hub, login: str, password: str) -> Student:
    student = Student(hub.url, login)
    student.last_response = login_through(
        student.session, f"{hub.url}/hub/oidc/github/oauth_login?next=/hub/home", login, password
    )
    return student


def test_a_github_login_equal_to_an_admin_name_is_no_admin(github_hub):
    hub, _ = github_hub(["admin", "ben", "ada-l"])
    # ben's organisation may not sign in: being listed does not let him past that.
    ben = github_sign_in(hub, BEN["login"], BEN["password"])
    assert ben.last_response.status_code == 403 and me(ben) is None
    # ada-l may sign in, but anyone can register a GitHub login: a bare name makes no GitHub user admin.
    assert me(github_sign_in(hub, ADA["login"], ADA["password"]))["admin"] is False


def test_an_admin_entry_can_name_github_as_its_method(github_hub, campus):
    hub, _ = github_hub(["admin", "github:ada-l"])
    assert me(github_sign_in(hub, ADA["login"], ADA["password"]))["admin"] is True


# --- 2. link_by: username only where the campus assigns names ---------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "culprit"),
    [
        ({"sign_in.local.signup": "open"}, "local (sign-up)"),
        (
            {"sign_in.oidc": {"gh": {"preset": "github", "client_id": "x", "client_secret": "y", "allow_all": True}}},
            "gh",
        ),
    ],
)
def test_link_by_username_is_refused_where_people_choose_their_names(campus, changes, culprit):
    campus.update(**{"sign_in.link_by": "username", **changes})
    for command in ("check", "up"):
        result = campus.cli(command)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "link_by: username" in result.stderr and culprit in result.stderr
        assert "campus.yaml:" in result.stderr and "Traceback" not in result.stderr


# --- 3. name reuse after removal --------------------------------------------------------------------------------


def write_file(student: Student, path: str, text: str) -> None:
    response = student.server_api("PUT", f"/contents/{path}", json={"type": "file", "format": "text", "content": text})
    assert response.status_code in (200, 201), response.text


@on_both_databases
def test_a_removed_users_files_and_name_go_to_nobody(campus, hub_factory):
    campus.update(**{"sign_in.local.signup": "open"})
    hub = hub_factory()
    assert sign_up(hub.url, "bob").status_code == 200
    bob = local(hub, "bob")
    bob.wait_for_server()  # signing in starts it
    write_file(bob, "secret.txt", "bob's secret")
    account = TEST_USER_PREFIX + "bob"
    home = Path(pwd.getpwnam(account).pw_dir)
    lms = LtiStore(campus.database_url)  # bob taught a course the LMS launched him into
    lms.record("bob", "phys-101", "instructor")
    lms.record("carol", "phys-101", "student")

    removed = campus.cli("users", "remove", "bob")
    assert removed.returncode == 0, removed.stderr
    assert lms.roles_of("bob") == {} and lms.roles_of("carol") == {"phys-101": "student"}
    lms.dispose()
    archive = Path(re.search(r"archived in (\S+\.tar\.gz)", removed.stdout).group(1))
    with tarfile.open(archive) as tar:
        assert tar.extractfile("home/secret.txt").read() == b"bob's secret"
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert manifest["user"] == "bob" and manifest["system_account"] == account
    (entry,) = [f for f in manifest["files"] if f["path"] == "home/secret.txt"]
    assert entry["size"] == 12 and len(entry["sha256"]) == 64
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    # Account, home and sessions are gone; the name is reserved.
    with pytest.raises(KeyError):
        pwd.getpwnam(account)
    assert not home.exists()
    assert me(bob) is None
    signup = sign_up(hub.url, "bob")
    assert signup.status_code == 400 and "reserved" in signup.text
    assert "bob\tlocal\tremoved" in campus.cli("users", "list", "--all").stdout
    # A hub user made for the name again (admin page, a course roster) gets no server.
    admin = local(hub, "admin", ADMIN_PASSWORD)
    assert admin.hub_api("POST", "/users/bob").status_code == 201
    start = admin.hub_api("POST", "/users/bob/server")
    assert start.status_code >= 400 and "was removed" in start.text

    # Released, the name goes to a new person with a new, empty account.
    released = campus.cli("users", "release", "bob")
    assert released.returncode == 0, released.stderr
    assert sign_up(hub.url, "bob", password="a-new-persons-password").status_code == 200
    newcomer = local(hub, "bob", "a-new-persons-password")
    newcomer.wait_for_server()
    assert newcomer.server_api("GET", "/contents/secret.txt").status_code == 404


def test_removing_someone_unknown_says_so(campus):
    result = campus.cli("users", "remove", "nobody")
    assert result.returncode == 2 and "no user 'nobody'" in result.stderr and "Traceback" not in result.stderr


def test_removing_a_directory_user_reserves_the_name(campus, directory_hub, slapd):
    hub = directory_hub()
    bob = ldap_student(hub, slapd, "bob")
    assert me(bob)["name"] == "bob"
    removed = campus.cli("users", "remove", "bob")
    assert removed.returncode == 0, removed.stderr
    assert me(bob) is None
    # Not even the directory's own bob gets the name back until an admin releases it.
    again = ldap_student(hub, slapd, "bob")
    assert again.last_response.status_code == 403 and me(again) is None
    assert campus.cli("users", "release", "bob").returncode == 0
    assert me(ldap_student(hub, slapd, "bob"))["name"] == "bob"


# --- 4. a sign-up request does not lock a campus user out -------------------------------------------------------


def test_a_sign_up_request_does_not_take_a_campus_name(campus, directory_hub, slapd):
    hub = directory_hub(**{"sign_in.local": {"signup": "approval"}})
    assert "requested" in sign_up(hub.url, "carol").text
    # carol of the directory signs in although someone asked for her name first.
    assert me(ldap_student(hub, slapd, "carol"))["name"] == "carol"
    approved = campus.cli("users", "approve", "carol")
    assert approved.returncode == 2 and "signed in with ldap" in approved.stderr
    listing = campus.cli("users", "list", "--all").stdout
    assert "carol\tldap\tclaimed, pending request" in listing
    assert "admin\tlocal\tactive" in listing
    # The admin refuses the stale request; the directory's carol keeps her account.
    refused = campus.cli("users", "refuse", "carol")
    assert refused.returncode == 0, refused.stderr
    assert "carol\tldap\tclaimed" in campus.cli("users", "list", "--all").stdout
    assert me(ldap_student(hub, slapd, "carol"))["name"] == "carol"


# --- 5. GitHub logins can be renamed ----------------------------------------------------------------------------


def test_github_accounts_follow_the_numeric_id_not_the_login(github_hub):
    hub, github = github_hub(["admin"])
    assert me(github_sign_in(hub, ADA["login"], ADA["password"]))["name"] == "ada-l"
    with github.state.lock:
        del github.state.users[ADA["login"]]
        github.state.users["ada-renamed"] = {**ADA, "login": "ada-renamed"}
        github.state.users["Ada-L"] = {**ADA, "id": 999_001, "password": "impostor-password-1"}
    # The person who renamed keeps their account...
    assert me(github_sign_in(hub, "ada-renamed", ADA["password"]))["name"] == "ada-l"
    # ...and whoever registered the old login does not get it.
    impostor = github_sign_in(hub, "Ada-L", "impostor-password-1")
    assert impostor.last_response.status_code == 403 and "belongs to another account" in impostor.last_response.text
    assert me(impostor) is None


# --- 10. service tokens -----------------------------------------------------------------------------------------


def test_the_courses_service_token_reaches_only_its_courses_people(campus, hub_factory):
    campus.add_user("ann", PASSWORD)
    campus.add_user("zed", PASSWORD)
    campus.update(courses={"phys101": {"members": ["ann"]}})
    hub = hub_factory()
    local(hub, "zed")  # zed exists in the hub too
    # The token `campushub courses warm` borrows: the courses service's own role, for minutes.
    config = load_config(campus.config_path).config
    token = service_token(database_url(config, layout_for(config)), COURSES_SERVICE, "test")
    headers = {"Authorization": f"token {token}"}
    api = f"{hub.url}/hub/api"
    model = requests.get(f"{api}/user", headers=headers).json()
    assert "admin:users" not in model["scopes"] and "servers" not in model["scopes"]
    # What the warmer does for a member who never signed in: create, then start.
    assert requests.post(f"{api}/users/ann", headers=headers).status_code == 201
    assert requests.post(f"{api}/users/ann/server", headers=headers).status_code in (201, 202)
    assert requests.post(f"{api}/users/zed/server", headers=headers).status_code in (403, 404)
    assert requests.patch(f"{api}/users/zed", headers=headers, json={"admin": True}).status_code in (403, 404)
    assert requests.post(f"{api}/users/mallory", headers=headers).status_code in (403, 404)
    # Listing users shows the course's people only (JupyterHub filters the list by the token's scopes).
    assert [user["name"] for user in requests.get(f"{api}/users", headers=headers).json()] == ["ann"]
