"""Every trait CampusHub sets exists, configurable, on the class it is set on.

traitlets only warns about a misspelt or vanished trait (an upgrade of JupyterHub or of a plug-in
package may rename one), and the setting is then silently ignored: a security option among them
would be lost without a sound. This test turns that warning into a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets import import_item

from campushub.config.schema import CampusConfig
from campushub.hub.layout import Layout
from campushub.hub.settings import hub_settings

# Config sections are named by class; these are the classes they configure.
SECTION_CLASSES = {
    "JupyterHub": "jupyterhub.app.JupyterHub",
    "Spawner": "jupyterhub.spawner.Spawner",
    "ConfigurableHTTPProxy": "jupyterhub.proxy.ConfigurableHTTPProxy",
    "CampusAuthenticator": "campushub.identity.combined.CampusAuthenticator",
    "LocalAccountsAuthenticator": "campushub.identity.local.LocalAccountsAuthenticator",
    "CampusLocalSpawner": "campushub.compute.local.CampusLocalSpawner",
}

LDAP = {
    "url": "ldaps://ldap.example.edu",
    "search": {"base": "ou=people,dc=example,dc=edu", "bind_dn": "cn=reader,dc=example,dc=edu", "bind_password": "x"},
    "groups_base": "ou=groups,dc=example,dc=edu",
    "allowed_groups": ["students"],
    "username_domain": "ad.example.edu",
}
EVERYTHING = {
    "listen": {"public_url": "https://notebooks.example.edu/", "trusted_proxies": ["127.0.0.1"]},
    "sign_in": {
        "local": {"signup": "approval"},
        "ldap": {"forest-a": LDAP, "forest-b": {**LDAP, "url": "ldaps://b.example.edu"}},
        "oidc": {
            "campus": {
                "discovery_url": "https://sso.example.edu/.well-known/openid-configuration",
                "client_id": "a",
                "client_secret": "b",
                "groups_claim": "groups",
                "allowed_groups": ["students"],
                "callback_url": "https://notebooks.example.edu/hub/oidc/campus/oauth_callback",
            },
            "entra": {"preset": "azuread", "tenant": "t", "client_id": "a", "client_secret": "b", "allow_all": True},
            "google": {"preset": "google", "hosted_domain": ["example.edu"], "client_id": "a", "client_secret": "b"},
            "gh": {"preset": "github", "client_id": "a", "client_secret": "b", "github_url": "https://gh.example.edu"},
        },
    },
    "admins": ["prof.x", "forest-a:dean"],
    "courses": {"phys101": {"members": ["alice"], "groups": ["physics"], "meetings": []}},
}


def everything_settings(tmp_path: Path, running_as_root: bool) -> dict:
    layout = Layout(tmp_path, Path("/opt/env"), "/usr/bin/configurable-http-proxy", running_as_root)
    return hub_settings(CampusConfig.model_validate(EVERYTHING), layout)


def configurable_traits(class_path: str) -> set[str]:
    return set(import_item(class_path).class_traits(config=True))


@pytest.mark.parametrize("running_as_root", [True, False])
def test_every_section_trait_exists_on_its_class(tmp_path: Path, running_as_root: bool) -> None:
    settings = everything_settings(tmp_path, running_as_root)
    unknown_sections = set(settings) - set(SECTION_CLASSES)
    assert not unknown_sections, f"add the classes of {unknown_sections} to SECTION_CLASSES"
    for section, values in settings.items():
        missing = set(values) - configurable_traits(SECTION_CLASSES[section])
        assert not missing, f"{section} has no configurable traits {sorted(missing)}"


def test_every_method_instance_setting_exists_on_its_authenticator(tmp_path: Path) -> None:
    methods = everything_settings(tmp_path, True)["CampusAuthenticator"]["methods"]
    assert {method["id"] for method in methods} == {"local", "forest-a", "forest-b", "campus", "entra", "google", "gh"}
    for method in methods:
        missing = set(method.get("config", {})) - configurable_traits(method["class"])
        assert not missing, f"{method['id']} ({method['class']}) has no configurable traits {sorted(missing)}"


def test_the_check_catches_a_misspelt_trait() -> None:
    """The positive control: a name that is not a trait is reported."""
    assert "spawner_clas" not in configurable_traits(SECTION_CLASSES["JupyterHub"])
    assert "spawner_class" in configurable_traits(SECTION_CLASSES["JupyterHub"])
