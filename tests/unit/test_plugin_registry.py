"""The example plug-in seen from CampusHub's side: registry, schema, settings and clashes.

Each check runs in a fresh interpreter with the plug-in's site directory on the path, as a hub with the
plug-in installed would; this process (no plug-in) must see only CampusHub's built-ins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from campushub.plugins import compute_backend_types, plugin_names, sign_in_method_types

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SITE = REPO / "tests" / ".plugin-site"

WORKSHOP_YAML = """
sign_in:
  local:
  workshop:
    summer: {code: summer-code-1, participants: [ann]}
compute:
  backend: workshop
  workshop: {banner: Hello}
"""


@pytest.fixture(scope="module")
def plugin_path() -> str:
    if not (PLUGIN_SITE / ".installed").exists():
        subprocess.run(["make", "--no-print-directory", "tests/.plugin-site/.installed"], cwd=REPO, check=True)
    return str(PLUGIN_SITE)


def with_plugin(plugin_path: str, code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": plugin_path}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_builtins_only_without_the_plugin() -> None:
    assert plugin_names() == []
    assert list(sign_in_method_types()) == ["local", "ldap", "oidc", "saml", "kerberos", "lti"]
    assert list(compute_backend_types()) == ["local", "docker", "slurm", "kubernetes"]


def test_the_plugin_adds_a_method_a_backend_and_settings(plugin_path: str) -> None:
    found = with_plugin(
        plugin_path,
        f"""
        import json
        from pathlib import Path
        from campushub.config.loader import parse_config
        from campushub.hub.layout import Layout
        from campushub.hub.settings import hub_settings
        from campushub.plugins import compute_backend_types, plugin_names, sign_in_method_types
        config = parse_config({WORKSHOP_YAML!r})
        settings = hub_settings(config, Layout(Path("/srv/c"), Path("/opt/env"), "chp", True))
        print(json.dumps({{
            "plugins": plugin_names(),
            "methods": list(sign_in_method_types()),
            "backends": list(compute_backend_types()),
            "entries": [(m["id"], m["class"], m["kind"]) for m in settings["CampusAuthenticator"]["methods"]],
            "page": [m["id"] for m in settings["JupyterHub"]["template_vars"]["sign_in_methods"]],
            "banner": settings["Spawner"]["environment"]["WORKSHOP_BANNER"],
            "http_timeout": settings["Spawner"]["http_timeout"],
            "spawner": settings["JupyterHub"]["spawner_class"],
        }}))
        """,
    )
    assert found["plugins"] == ["workshop"]
    assert found["methods"] == ["local", "ldap", "oidc", "saml", "kerberos", "lti", "workshop"]
    assert found["backends"] == ["local", "docker", "slurm", "kubernetes", "workshop"]
    assert found["entries"] == [
        ["local", "campushub.identity.local.LocalAccountsAuthenticator", "password"],
        ["summer", "campushub_workshop.method.WorkshopAuthenticator", "password"],
    ]
    assert found["page"] == ["local", "summer"]
    assert found["banner"] == "Hello" and found["http_timeout"] == 120
    assert found["spawner"] == "campushub.compute.local.CampusLocalSpawner"


def test_a_plugin_setting_a_trait_campushub_sets_is_refused_by_name(plugin_path: str) -> None:
    found = with_plugin(
        plugin_path,
        """
        import json
        from campushub.hub.merge import SettingsConflict, merge_settings
        from campushub.plugins import manager, hookimpl

        class Clash:
            @hookimpl
            def campushub_hub_settings(self, config, layout):
                return {"JupyterHub": {"spawner_class": "elsewhere.Spawner"}}

        manager().register(Clash(), name="clash")
        from pathlib import Path
        from campushub.config.schema import CampusConfig
        from campushub.hub.layout import Layout
        from campushub.hub.settings import hub_settings
        try:
            hub_settings(CampusConfig.model_validate({}), Layout(Path("/srv/c"), Path("/opt/env"), "chp", True))
        except SettingsConflict as exc:
            print(json.dumps({"error": str(exc)}))
        """,
    )
    assert "plug-in clash sets JupyterHub.spawner_class" in found["error"]
    assert "compute_settings already set" in found["error"]


def test_a_method_type_without_its_attributes_fails_when_defined() -> None:
    from campushub.identity.methods.base import SignInMethod

    with pytest.raises(TypeError, match="must set type_name, config_model"):

        class Forgetful(SignInMethod):
            kind = "password"
            authenticator_class = "x.Y"

            def authenticator_config(self, config, layout):
                return {}
