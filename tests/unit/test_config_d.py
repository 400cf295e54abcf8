"""The escape hatch: jupyterhub_config.d/*.py run on the hub's config after CampusHub's settings, in name order."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from traitlets.config import Config

from campushub.hub.config_d import ConfigFileFailed, load_config_d


def test_files_run_in_name_order_on_the_settings_campushub_made(tmp_path: Path, caplog) -> None:
    directory = tmp_path / "jupyterhub_config.d"
    directory.mkdir()
    (directory / "50-second.py").write_text("c.JupyterHub.template_vars['order'].append('50')\n")
    (directory / "10-first.py").write_text("get_config().JupyterHub.template_vars['order'] = ['10']\n")
    (directory / "notes.txt").write_text("not Python: never run\n")
    c = Config()
    c.JupyterHub.template_vars = {"campus_name": "Example"}
    with caplog.at_level(logging.INFO, logger="JupyterHub"):
        loaded = load_config_d(c, directory)
    assert [path.name for path in loaded] == ["10-first.py", "50-second.py"]
    assert c.JupyterHub.template_vars == {"campus_name": "Example", "order": ["10", "50"]}
    assert [record.getMessage() for record in caplog.records] == [
        "Loaded jupyterhub_config.d/10-first.py",
        "Loaded jupyterhub_config.d/50-second.py",
    ]


def test_no_directory_no_files(tmp_path: Path) -> None:
    assert load_config_d(Config(), tmp_path / "jupyterhub_config.d") == []


@pytest.mark.parametrize("source", ["c.JupyterHub.port = undefined_name\n", "c.JupyterHub.port = (\n"])
def test_a_file_that_fails_is_named(tmp_path: Path, source: str) -> None:
    directory = tmp_path / "jupyterhub_config.d"
    directory.mkdir()
    (directory / "20-broken.py").write_text(source)
    with pytest.raises(ConfigFileFailed, match=r"^jupyterhub_config\.d/20-broken\.py failed \((NameError|SyntaxError)"):
        load_config_d(Config(), directory)
