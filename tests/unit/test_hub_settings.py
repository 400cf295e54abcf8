"""CampusConfig -> JupyterHub settings, with a hand-made Layout (no hub, no disk, no root)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from campushub.config.schema import CampusConfig
from campushub.hub.settings import Layout, activity_interval, hub_settings
from campushub.services.builtin import CULLER_SERVICE

ENVIRONMENT = Path("/opt/env")


def make_layout(tmp_path: Path, running_as_root: bool = False) -> Layout:
    return Layout(
        data_dir=tmp_path / "data",
        environment=ENVIRONMENT,
        proxy_command="/x/chp",
        running_as_root=running_as_root,
    )


def settings_for(tmp_path: Path, running_as_root: bool = False, **config: object) -> dict:
    return hub_settings(CampusConfig.model_validate(config), make_layout(tmp_path, running_as_root))


def culler_service(settings: dict) -> dict:
    (service,) = [s for s in settings["JupyterHub"]["services"] if s["name"] == CULLER_SERVICE]
    return service


def culler_role(settings: dict) -> dict:
    (role,) = [r for r in settings["JupyterHub"]["load_roles"] if r["name"] == CULLER_SERVICE]
    return role


# --- listening --------------------------------------------------------------------------------------------------


def test_bind_url_uses_listen_ip_and_port(tmp_path: Path) -> None:
    hub = settings_for(tmp_path, listen={"ip": "0.0.0.0", "port": 8443})["JupyterHub"]
    assert hub["bind_url"] == "http://0.0.0.0:8443/"


def test_default_bind_url(tmp_path: Path) -> None:
    assert settings_for(tmp_path)["JupyterHub"]["bind_url"] == "http://127.0.0.1:8000/"


@pytest.mark.parametrize("port", [8000, 9000, 65533])
def test_internal_apis_on_the_next_two_ports_on_loopback(tmp_path: Path, port: int) -> None:
    settings = settings_for(tmp_path, listen={"ip": "0.0.0.0", "port": port})
    assert settings["JupyterHub"]["hub_bind_url"] == f"http://127.0.0.1:{port + 1}"
    assert settings["ConfigurableHTTPProxy"]["api_url"] == f"http://127.0.0.1:{port + 2}"


def test_proxy_command_from_layout_on_a_lifeline(tmp_path: Path) -> None:
    command = settings_for(tmp_path)["ConfigurableHTTPProxy"]["command"]
    assert command[-1] == "/x/chp" and command[-2].endswith("lifeline.py")


def test_servers_outlive_the_hub_and_the_proxy_does_not(tmp_path: Path) -> None:
    hub = settings_for(tmp_path)["JupyterHub"]
    assert (hub["cleanup_servers"], hub["cleanup_proxy"]) == (False, True)
    assert "active_server_limit" not in hub
    capped = settings_for(tmp_path, compute={"max_servers": 40})["JupyterHub"]
    assert capped["active_server_limit"] == 40


def test_no_tls_settings_without_tls(tmp_path: Path) -> None:
    hub = settings_for(tmp_path)["JupyterHub"]
    assert "ssl_cert" not in hub
    assert "ssl_key" not in hub
    assert "public_url" not in hub


def test_tls_settings_and_https_bind_url(tmp_path: Path) -> None:
    hub = settings_for(tmp_path, listen={"port": 443, "tls_cert": "/etc/ssl/c.pem", "tls_key": "/etc/ssl/k.pem"})[
        "JupyterHub"
    ]
    assert hub["ssl_cert"] == "/etc/ssl/c.pem"
    assert hub["ssl_key"] == "/etc/ssl/k.pem"
    assert hub["bind_url"] == "https://127.0.0.1:443/"
    assert hub["hub_bind_url"] == "http://127.0.0.1:444"


def test_public_url_passed_through(tmp_path: Path) -> None:
    hub = settings_for(tmp_path, listen={"public_url": "https://notebooks.example.edu/"})["JupyterHub"]
    assert hub["public_url"] == "https://notebooks.example.edu/"
    assert hub["bind_url"] == "http://127.0.0.1:8000/"


def test_trusted_proxies(tmp_path: Path) -> None:
    hub = settings_for(tmp_path, listen={"trusted_proxies": ["10.0.0.1"]})["JupyterHub"]
    assert hub["trusted_downstream_ips"] == ["10.0.0.1"]


# --- storage ----------------------------------------------------------------------------------------------------


def test_db_url_defaults_to_sqlite_under_data_dir(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    expected = f"sqlite:///{tmp_path / 'data' / 'campushub.sqlite'}"
    assert settings["JupyterHub"]["db_url"] == expected
    assert settings["LocalAccountsAuthenticator"]["db_url"] == expected


def test_db_url_from_config(tmp_path: Path) -> None:
    url = "postgresql://campushub:pw@db.example.edu/campushub"
    settings = settings_for(tmp_path, database={"url": url})
    assert settings["JupyterHub"]["db_url"] == url
    assert settings["LocalAccountsAuthenticator"]["db_url"] == url


def test_files_live_under_data_dir(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    data = tmp_path / "data"
    assert settings["JupyterHub"]["cookie_secret_file"] == str(data / "secrets" / "jupyterhub_cookie_secret")
    assert settings["JupyterHub"]["pid_file"] == str(data / "run" / "hub.pid")
    assert settings["ConfigurableHTTPProxy"]["pid_file"] == str(data / "run" / "proxy.pid")


# --- activity and culling ---------------------------------------------------------------------------------------

TIMEOUTS = [30, 31, 45, 59, 60, 61, 100, 119, 120, 121, 300, 900, 1199, 1200, 1201, 3600, 7200, 86400, 604800]


@pytest.mark.parametrize("timeout", TIMEOUTS)
def test_activity_interval_bounds(timeout: int) -> None:
    interval = activity_interval(timeout)
    assert 5 <= interval <= 300
    assert interval <= timeout / 4


@pytest.mark.parametrize("timeout", TIMEOUTS)
def test_active_user_is_never_culled(timeout: int) -> None:
    # activity reported every `interval`, checked every `interval`: at most 2 intervals stale
    assert activity_interval(timeout) * 2 < timeout


@pytest.mark.parametrize(("idle_timeout", "written"), [(1800, "30m"), (3600, "1h"), (45, 45)])
def test_culler_command_uses_idle_timeout(tmp_path: Path, idle_timeout: int, written: object) -> None:
    command = culler_service(settings_for(tmp_path, compute={"idle_timeout": written}))["command"]
    assert f"--timeout={idle_timeout}" in command
    assert f"--cull-every={activity_interval(idle_timeout)}" in command
    assert "jupyterhub_idle_culler" in command


def test_culler_role_has_exactly_the_scopes_it_needs(tmp_path: Path) -> None:
    role = culler_role(settings_for(tmp_path))
    assert sorted(role["scopes"]) == sorted(["list:users", "read:users:activity", "read:servers", "delete:servers"])
    assert len(role["scopes"]) == 4
    assert role["services"] == [CULLER_SERVICE]


@pytest.mark.parametrize("idle_timeout", [30, 600, 3600, 86400])
def test_activity_interval_everywhere_agrees(tmp_path: Path, idle_timeout: int) -> None:
    settings = settings_for(tmp_path, compute={"idle_timeout": idle_timeout})
    interval = activity_interval(idle_timeout)
    assert settings["Spawner"]["environment"]["JUPYTERHUB_ACTIVITY_INTERVAL"] == str(interval)
    assert settings["JupyterHub"]["last_activity_interval"] == interval


# --- users' servers ---------------------------------------------------------------------------------------------


def test_spawner_runs_singleuser_from_the_environment(tmp_path: Path) -> None:
    spawner = settings_for(tmp_path)["Spawner"]
    assert spawner["cmd"] == [str(ENVIRONMENT / "bin" / "jupyterhub-singleuser")]
    assert spawner["environment"]["PATH"].split(":")[0] == str(ENVIRONMENT / "bin")


def test_spawner_environment_has_activity_interval(tmp_path: Path) -> None:
    environment = settings_for(tmp_path)["Spawner"]["environment"]
    assert "JUPYTERHUB_ACTIVITY_INTERVAL" in environment
    assert int(environment["JUPYTERHUB_ACTIVITY_INTERVAL"]) == activity_interval(3600)


@pytest.mark.parametrize("running_as_root", [True, False])
def test_isolate_users_follows_running_as_root(tmp_path: Path, running_as_root: bool) -> None:
    spawner = settings_for(tmp_path, running_as_root=running_as_root)["CampusLocalSpawner"]
    assert spawner["isolate_users"] is running_as_root


def test_local_compute_settings(tmp_path: Path) -> None:
    spawner = settings_for(tmp_path, compute={"local": {"user_prefix": "stu-", "home_base": "/srv/home"}})[
        "CampusLocalSpawner"
    ]
    assert spawner["user_prefix"] == "stu-"
    assert spawner["home_base"] == "/srv/home"
    assert spawner["personal_root"] == str(tmp_path / "data" / "users")


# --- identity and branding --------------------------------------------------------------------------------------


def test_admins_go_to_campus_authenticator_not_admin_users(tmp_path: Path) -> None:
    """JupyterHub's admin_users would let a listed name past every method's allow rules."""
    settings = settings_for(tmp_path, admins=["Alice", "local:bob"])
    assert "Authenticator" not in settings
    assert settings["CampusAuthenticator"]["campus_admins"] == [
        {"name": "alice", "method": None},
        {"name": "bob", "method": "local"},
    ]


def test_no_admins(tmp_path: Path) -> None:
    assert settings_for(tmp_path)["CampusAuthenticator"]["campus_admins"] == []


def test_github_names_are_chosen_by_people(tmp_path: Path) -> None:
    github = {"preset": "github", "client_id": "x", "client_secret": "y", "allow_all": True}
    settings = settings_for(tmp_path, sign_in={"local": {}, "oidc": {"gh": github}})
    assert settings["CampusAuthenticator"]["chosen_name_methods"] == ["gh"]


def test_courses_service_scopes_are_filtered_to_its_people(tmp_path: Path) -> None:
    courses = {"phys": {"members": ["ann"], "groups": ["phys-lab"]}}
    settings = settings_for(tmp_path, courses=courses)
    (role,) = [r for r in settings["JupyterHub"]["load_roles"] if r["name"] == "campushub-courses"]
    assert set(role["scopes"]) == {
        "read:users:name!user=ann",
        "read:users:activity!user=ann",
        "read:servers!user=ann",
        "start:servers!user=ann",
        "delete:servers!user=ann",
        "admin:users!user=ann",
        "read:users:name!group=phys-lab",
        "read:users:activity!group=phys-lab",
        "read:servers!group=phys-lab",
        "start:servers!group=phys-lab",
        "delete:servers!group=phys-lab",
        "read:groups!group=phys-lab",
    }
    assert all("!" in scope for scope in role["scopes"])


def test_cli_service_can_only_list_stop_and_delete(tmp_path: Path) -> None:
    roles = {r["name"]: r for r in settings_for(tmp_path)["JupyterHub"]["load_roles"]}
    scopes = set(roles["campushub-cli"]["scopes"])
    assert scopes == {"list:users", "read:users:name", "read:servers", "delete:servers", "delete:users"}


@pytest.mark.parametrize("mode", ["closed", "approval", "invite", "open"])
def test_signup_mode(tmp_path: Path, mode: str) -> None:
    settings = settings_for(tmp_path, sign_in={"local": {"signup": mode}})
    assert settings["LocalAccountsAuthenticator"]["signup_mode"] == mode
    assert settings["JupyterHub"]["template_vars"]["signup_mode"] == mode


def test_sign_in_limits(tmp_path: Path) -> None:
    local = {"min_password_length": 12, "max_failed_logins": 7, "lockout": "10m"}
    authenticator = settings_for(tmp_path, sign_in={"local": local})["LocalAccountsAuthenticator"]
    assert authenticator["min_password_length"] == 12
    assert authenticator["max_failed_logins"] == 7
    assert authenticator["lockout_seconds"] == 600
    # Every method's failures count against the address: the limits live on the authenticator holding them all.
    campus = settings_for(tmp_path, sign_in={"local": local})["CampusAuthenticator"]
    assert (campus["max_failed_logins"], campus["lockout_seconds"]) == (7, 600)


def test_authenticator_class_combines_the_methods(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert settings["JupyterHub"]["authenticator_class"] == "campushub.identity.combined.CampusAuthenticator"
    methods = settings["CampusAuthenticator"]["methods"]
    assert [(m["id"], m["class"]) for m in methods] == [
        ("local", "campushub.identity.local.LocalAccountsAuthenticator")
    ]
    assert settings["CampusAuthenticator"]["manage_groups"] is False


LDAP = {
    "url": "ldaps://ldap.example.edu",
    "search": {
        "base": "ou=people,dc=example,dc=edu",
        "user_attribute": "sAMAccountName",
        "bind_dn": "cn=reader,dc=example,dc=edu",
        "bind_password": "pw",
    },
    "groups_base": "ou=groups,dc=example,dc=edu",
    "allowed_groups": ["students"],
    "admin_groups": ["hub-admins"],
}


def test_ldap_alone_replaces_local_and_checks_certificates(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, sign_in={"ldap": LDAP})
    assert [m["id"] for m in settings["CampusAuthenticator"]["methods"]] == ["ldap"]
    assert settings["CampusAuthenticator"]["manage_groups"] is True
    ldap = settings["CampusAuthenticator"]["methods"][0]["config"]
    assert (ldap["server_address"], ldap["server_port"], ldap["tls_strategy"]) == (
        "ldap.example.edu",
        636,
        "on_connect",
    )
    assert ldap["tls_kwargs"]["validate"] == ssl.CERT_REQUIRED
    assert ldap["lookup_dn"] is True and ldap["user_attribute"] == "sAMAccountName"
    assert ldap["campus_allowed_groups"] == ["students"] and ldap["campus_allow_all"] is False


def test_local_and_ldap_together_in_page_order(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, sign_in={"local": None, "ldap": {**LDAP, "label": "University ID"}})
    methods = settings["JupyterHub"]["template_vars"]["sign_in_methods"]
    assert [(m["id"], m["label"]) for m in methods] == [("local", "Sign in"), ("ldap", "University ID")]


def test_two_directories_are_two_methods_each_configured_alone(tmp_path: Path) -> None:
    forest_b = {**LDAP, "url": "ldaps://ad.b.example.edu", "label": "Forest B", "allowed_groups": ["staff"]}
    settings = settings_for(tmp_path, sign_in={"ldap": {"forest-a": LDAP, "forest-b": forest_b}})
    methods = settings["CampusAuthenticator"]["methods"]
    assert [(m["id"], m["kind"], m["url_prefix"]) for m in methods] == [
        ("forest-a", "password", ""),
        ("forest-b", "password", ""),
    ]
    assert [m["config"]["server_address"] for m in methods] == ["ldap.example.edu", "ad.b.example.edu"]
    assert [m["config"]["campus_allowed_groups"] for m in methods] == [["students"], ["staff"]]
    assert "CampusLDAPAuthenticator" not in settings  # no class-wide section that one directory would take over
    page = settings["JupyterHub"]["template_vars"]["sign_in_methods"]
    assert [(m["id"], m["label"]) for m in page] == [("forest-a", "Campus account"), ("forest-b", "Forest B")]


def test_template_vars_carry_campus_name(tmp_path: Path) -> None:
    hub = settings_for(tmp_path, name="Example University")["JupyterHub"]
    assert hub["template_vars"]["campus_name"] == "Example University"


# --- courses ----------------------------------------------------------------------------------------------------


def courses_service(settings: dict) -> dict:
    (service,) = [s for s in settings["JupyterHub"]["services"] if s["name"] == "campushub-courses"]
    return service


def test_no_courses_no_courses_service(tmp_path: Path) -> None:
    assert "campushub-courses" not in [s["name"] for s in settings_for(tmp_path)["JupyterHub"]["services"]]
