"""The escape hatch: the admin's own JupyterHub settings in data_dir/jupyterhub_config.d, loaded after CampusHub's."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration

BANNER = "Maintenance on Friday from 18:00: save your notebooks."


def config_d(campus):
    directory = campus.directory / "data" / "jupyterhub_config.d"
    directory.mkdir(exist_ok=True)
    return directory


def test_a_config_d_file_sets_what_campushub_does_not_and_the_log_names_it(campus, hub_factory):
    # A key CampusHub's settings leave alone, added to the template variables CampusHub sets: the file runs after them.
    (config_d(campus) / "50-banner.py").write_text(f'c.JupyterHub.template_vars["announcement_login"] = {BANNER!r}\n')
    hub = hub_factory()
    page = requests.get(f"{hub.url}/hub/login", timeout=30)
    assert page.status_code == 200
    assert BANNER in page.text
    assert 'id="campus-name"' in page.text  # CampusHub's own sign-in page, with its variables, still
    assert hub.wait_for_output("Loaded jupyterhub_config.d/50-banner.py")


def test_a_config_d_file_that_fails_stops_the_start_and_is_named(campus):
    (config_d(campus) / "20-broken.py").write_text("c.JupyterHub.shutdown_on_logout = undefined_name\n")
    result = campus.cli("up")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "jupyterhub_config.d/20-broken.py failed (NameError: name 'undefined_name' is not defined)" in output
