"""Services declared as `Service`s and mapped to JupyterHub's services and roles; CampusHub's own among them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from campushub.config.schema import CampusConfig
from campushub.courses.directory import roster_directory
from campushub.hub import lifeline
from campushub.hub.layout import Layout
from campushub.hub.settings import hub_settings
from campushub.services import Service, service_settings
from campushub.services.builtin import (
    CLI_SERVICE,
    COURSES_SERVICE,
    CULLER_SERVICE,
    LIBRARY_SERVICE,
    builtin_services,
    courses_scopes,
)

LIFELINE = lifeline.__file__

LDAP = {
    "url": "ldaps://ldap.example.edu",
    "search": {"base": "ou=people,dc=example,dc=edu", "bind_dn": "cn=reader,dc=example,dc=edu", "bind_password": "pw"},
    "groups_base": "ou=groups,dc=example,dc=edu",
}
NO_GROUP_SEARCH = {"url": "ldaps://other.example.edu", "bind_dn_templates": ["uid={username},ou=people,dc=example"]}


def make_layout(tmp_path: Path) -> Layout:
    return Layout(data_dir=tmp_path / "data", environment=Path("/opt/env"), proxy_command="chp", running_as_root=True)


def by_name(entries: list[dict]) -> dict[str, dict]:
    return {entry["name"]: entry for entry in entries}


# --- the mapping ------------------------------------------------------------------------------------------------


def test_a_service_gets_a_role_of_its_own_with_its_scopes(tmp_path: Path) -> None:
    service = Service(name="reports", command=("reports",), scopes=("read:users:name!group=staff", "read:servers"))
    settings = service_settings([service], make_layout(tmp_path))["JupyterHub"]
    [spec] = settings["services"]
    # On a lifeline: it ends with the hub, and is started again if it crashes.
    assert spec["command"][-3:] == [str(LIFELINE), "--restart", "reports"]
    assert {key: value for key, value in spec.items() if key != "command"} == {"name": "reports", "display": False}
    assert settings["load_roles"] == [
        {"name": "reports", "scopes": ["read:users:name!group=staff", "read:servers"], "services": ["reports"]}
    ]


def test_a_service_without_scopes_gets_no_role(tmp_path: Path) -> None:
    settings = service_settings([Service(name="quiet", command=("quiet",))], make_layout(tmp_path))["JupyterHub"]
    assert settings["load_roles"] == []


def test_an_oauth_client_serves_pages_through_the_proxy_without_a_confirmation_page(tmp_path: Path) -> None:
    service = Service(name="grades", command=("grades",), oauth_client=True, port=9321, display=True)
    (spec,) = service_settings([service], make_layout(tmp_path))["JupyterHub"]["services"]
    assert spec["url"] == "http://127.0.0.1:9321"
    assert spec["oauth_no_confirm"] is True and spec["display"] is True
    elsewhere = Service(name="wiki", oauth_client=True, url="https://wiki.example.edu")
    (spec,) = service_settings([elsewhere], make_layout(tmp_path))["JupyterHub"]["services"]
    assert spec["url"] == "https://wiki.example.edu" and "command" not in spec


def test_pages_without_hub_sign_in_are_not_an_oauth_client(tmp_path: Path) -> None:
    (spec,) = service_settings([Service(name="status", command=("s",), port=9400)], make_layout(tmp_path))[
        "JupyterHub"
    ]["services"]
    assert spec["url"] == "http://127.0.0.1:9400" and spec["oauth_no_confirm"] is False


def test_an_oauth_client_needs_pages() -> None:
    with pytest.raises(ValueError, match="serves no pages"):
        Service(name="grades", command=("grades",), oauth_client=True)


def test_the_snapshots_path_is_the_only_campushub_variable(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    service = Service(name="w", command=("w",), reads_snapshot=True, environment={"TZ": "Europe/Paris"})
    (spec,) = service_settings([service], layout)["JupyterHub"]["services"]
    assert spec["environment"] == {"TZ": "Europe/Paris", "CAMPUSHUB_SNAPSHOT": str(layout.snapshot_file)}
    (plain,) = service_settings([Service(name="p", command=("p",))], layout)["JupyterHub"]["services"]
    assert "environment" not in plain


def test_an_api_only_service_has_no_process_and_no_environment(tmp_path: Path) -> None:
    (spec,) = service_settings([Service(name="api", scopes=("read:users",))], make_layout(tmp_path))["JupyterHub"][
        "services"
    ]
    assert spec == {"name": "api", "display": False}
    with pytest.raises(ValueError, match="no command"):
        Service(name="api", reads_snapshot=True)


def test_two_services_may_not_share_a_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two services are named 'twin'"):
        service_settings([Service(name="twin"), Service(name="twin")], make_layout(tmp_path))


# --- CampusHub's own --------------------------------------------------------------------------------------------


def test_without_courses_there_is_no_warmer(tmp_path: Path) -> None:
    config = CampusConfig()
    assert [service.name for service in builtin_services(config, make_layout(tmp_path))] == [
        CULLER_SERVICE,
        LIBRARY_SERVICE,
        CLI_SERVICE,
    ]
    settings = hub_settings(config, make_layout(tmp_path))["JupyterHub"]
    assert COURSES_SERVICE not in by_name(settings["services"])
    assert COURSES_SERVICE not in by_name(settings["load_roles"])


def test_the_library_serves_pages_everyone_may_sign_in_to_and_holds_no_api_scope(tmp_path: Path) -> None:
    config = CampusConfig.model_validate({"listen": {"port": 9000}})
    settings = hub_settings(config, make_layout(tmp_path))["JupyterHub"]
    library = by_name(settings["services"])[LIBRARY_SERVICE]
    assert library["url"] == "http://127.0.0.1:9003"
    assert library["oauth_no_confirm"] is True
    assert "campushub.library.service" in library["command"]
    roles = by_name(settings["load_roles"])
    assert LIBRARY_SERVICE not in roles, "the library calls no hub API"
    assert roles["user"]["scopes"] == ["self", f"access:services!service={LIBRARY_SERVICE}"]


def test_with_the_library_off_there_is_no_library_and_the_user_role_is_the_default(tmp_path: Path) -> None:
    config = CampusConfig.model_validate({"library": {"enabled": False}})
    settings = hub_settings(config, make_layout(tmp_path))["JupyterHub"]
    assert LIBRARY_SERVICE not in by_name(settings["services"])
    assert "user" not in by_name(settings["load_roles"])


def test_the_warmer_reads_the_snapshot_and_holds_no_token(tmp_path: Path) -> None:
    config = CampusConfig.model_validate({"sign_in": {"ldap": LDAP}, "courses": {"phys": {"groups": ["phys-lab"]}}})
    layout = make_layout(tmp_path)
    settings = hub_settings(config, layout)["JupyterHub"]
    warmer = by_name(settings["services"])[COURSES_SERVICE]
    assert warmer["command"][-3:] == [sys.executable, "-m", "campushub.courses.warmer"]
    assert warmer["environment"]["CAMPUSHUB_SNAPSHOT"] == str(layout.snapshot_file)
    assert set(warmer["environment"]) <= {"CAMPUSHUB_SNAPSHOT", "TZ"}  # no courses, no bind password
    assert "api_token" not in warmer  # JupyterHub gives a managed service a new token at each start
    assert by_name(settings["load_roles"])[COURSES_SERVICE]["scopes"] == courses_scopes(config)


def test_the_cli_service_is_api_only_with_removals_and_full_stops_scopes(tmp_path: Path) -> None:
    settings = hub_settings(CampusConfig(), make_layout(tmp_path))["JupyterHub"]
    assert by_name(settings["services"])[CLI_SERVICE] == {"name": CLI_SERVICE, "display": False}
    assert set(by_name(settings["load_roles"])[CLI_SERVICE]["scopes"]) == {
        "list:users",
        "read:users:name",
        "read:servers",
        "delete:servers",
        "delete:users",
    }


def test_the_culler_runs_with_the_idle_timeout(tmp_path: Path) -> None:
    config = CampusConfig.model_validate({"compute": {"idle_timeout": "10m"}})
    culler = by_name(hub_settings(config, make_layout(tmp_path))["JupyterHub"]["services"])[CULLER_SERVICE]
    assert "--timeout=600" in culler["command"] and "environment" not in culler


# --- which directory fills rosters --------------------------------------------------------------------------------


def test_rosters_come_from_the_first_directory_that_can_search_groups() -> None:
    config = CampusConfig.model_validate(
        {"sign_in": {"ldap": {"plain": NO_GROUP_SEARCH, "main": LDAP, "later": {**LDAP, "url": "ldaps://x.edu"}}}}
    )
    assert roster_directory(config) == config.sign_in.of_type("ldap")["main"]


def test_no_directory_that_can_search_groups_means_hub_groups_only() -> None:
    config = CampusConfig.model_validate({"sign_in": {"ldap": NO_GROUP_SEARCH}, "courses": {"c": {"groups": ["g"]}}})
    assert roster_directory(config) is None
    assert "admin:users" not in courses_scopes(config)  # only filtered scopes without a directory to search


def test_directory_groups_need_unfiltered_scopes() -> None:
    config = CampusConfig.model_validate({"sign_in": {"ldap": LDAP}, "courses": {"c": {"groups": ["g"]}}})
    assert "admin:users" in courses_scopes(config) and "start:servers" in courses_scopes(config)
