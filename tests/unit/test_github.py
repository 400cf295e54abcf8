"""The `github` preset: groups from organisations and teams, and what reaches JupyterHub's config."""

from __future__ import annotations

from pathlib import Path

from campushub.config.loader import parse_config
from campushub.hub.layout import Layout
from campushub.hub.settings import hub_settings
from campushub.identity.diagnostics import github_api_url
from campushub.identity.github import github_groups


def campus_methods(text: str) -> list[dict]:
    """The method entries CampusAuthenticator gets for a campus.yaml."""
    layout = Layout(Path("/srv/campus"), Path("/opt/env"), "/x/chp", running_as_root=False)
    return hub_settings(parse_config(text, "campus.yaml"), layout)["CampusAuthenticator"]["methods"]


def test_orgs_and_teams_become_lower_case_groups() -> None:
    orgs = [{"login": "Campus-Courses"}, {"login": "lab"}]
    teams = [
        {"slug": "CS101", "organization": {"login": "Campus-Courses"}},
        {"slug": "x", "organization": {"login": "o"}},
    ]
    assert github_groups(orgs, teams) == {"campus-courses", "campus-courses:cs101", "lab", "o", "o:x"}


def test_github_preset_settings() -> None:
    text = (
        "sign_in:\n  oidc:\n    gh:\n      preset: github\n      client_id: a\n      client_secret: b\n"
        "      allowed_groups: [Campus-Courses:CS101]\n"
    )
    (method,) = campus_methods(text)
    assert method["class"].endswith("CampusGitHubAuthenticator")
    config = method["config"]
    assert config["scope"] == ["read:org"]
    assert config["allowed_groups"] == {"campus-courses:cs101"}
    assert config["manage_groups"] is True and config["allow_all"] is False
    assert "github_url" not in config  # github.com


def test_api_url_of_github_and_of_an_enterprise_server() -> None:
    assert github_api_url(None) == "https://api.github.com"
    assert github_api_url("https://github.uni.edu/") == "https://github.uni.edu/api/v3"
