"""The builder's bookkeeping (states, locks, kernels), the person-side steps, and where servers find kernels.

Builds themselves run against a real package index in tests/integration/test_library.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from campushub.config.loader import parse_config
from campushub.environments.builder import (
    READY_FILE,
    RETRY_AFTER,
    BuildFailed,
    BuildSettings,
    EnvironmentBuilder,
    builder_account,
    kernel_spec,
)
from campushub.environments.workspace import find_spec, read_plain_file, use_kernel
from campushub.errors import UserError

KEY = "0123456789abcdef0123"


def builder(tmp_path: Path) -> EnvironmentBuilder:
    return EnvironmentBuilder(BuildSettings(tmp_path / "envs", Path("/usr/bin/python3"), None, 60, None))


def test_an_environment_is_ready_only_once_its_marker_is_written(tmp_path: Path) -> None:
    envs = builder(tmp_path)
    assert envs.state(KEY) == "absent"
    (tmp_path / "envs" / KEY / "bin").mkdir(parents=True)
    assert envs.state(KEY) == "absent", "an interrupted build is not an environment"
    (tmp_path / "envs" / KEY / READY_FILE).write_text(json.dumps({"key": KEY}))
    assert envs.state(KEY) == "ready"
    assert envs.environments() == [{"key": KEY}]


def test_a_failed_build_stays_failed_for_a_while_then_may_be_tried_again(tmp_path: Path) -> None:
    envs = builder(tmp_path)
    envs.settings.root.mkdir()
    envs.failed_path(KEY).write_text("installing the packages failed\n")
    envs.log_path(KEY).write_text("ERROR: No matching distribution found for nothing\n")
    assert envs.state(KEY) == "failed"
    assert "No matching distribution" in envs.log(KEY)
    old = time.time() - RETRY_AFTER - 1
    os.utime(envs.failed_path(KEY), (old, old))
    assert envs.state(KEY) == "absent"


def test_a_build_holding_the_lock_shows_as_building_to_other_processes(tmp_path: Path) -> None:
    envs = builder(tmp_path)
    with envs.lock(KEY):
        # flock is per open file: another opening, as another process would, sees it held.
        assert envs.locked(KEY)
        assert envs.state(KEY) == "building"
    assert not envs.locked(KEY)


def test_the_log_shown_is_the_end_of_a_long_one(tmp_path: Path) -> None:
    envs = builder(tmp_path)
    envs.settings.root.mkdir()
    envs.log_path(KEY).write_text("x" * 200_000 + "the last line\n")
    shown = envs.log(KEY)
    assert shown.endswith("the last line\n") and len(shown) <= 64 * 1024


def test_the_kernel_runs_the_environments_python_and_says_whose_it_is() -> None:
    spec = kernel_spec(Path("/envs/abc/bin/python"), "lecturer/week1", "abc")
    assert spec["argv"] == ["/envs/abc/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert spec["display_name"] == "Python (lecturer/week1)"


def test_builds_never_run_as_root(tmp_path: Path) -> None:
    settings = BuildSettings(tmp_path, Path("/usr/bin/python3"), None, 60, None)
    if os.geteuid() == 0:  # as root (the suite, a production install) a build account is a must
        with pytest.raises(BuildFailed, match="never runs as root"):
            builder_account(settings)
    else:  # any other account builds as itself
        assert builder_account(settings) is None
    with pytest.raises(BuildFailed, match="is root"):
        builder_account(BuildSettings(tmp_path, Path("/usr/bin/python3"), None, 60, "root"))


def test_a_spec_that_is_a_link_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("root:$6$hash\n")
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "requirements.txt").symlink_to(secret)
    assert read_plain_file(clone / "requirements.txt", 1000) is None
    assert find_spec(clone) == {}
    (clone / "environment.yml").write_text("dependencies: [numpy]\n")
    assert find_spec(clone) == {"name": "environment.yml", "text": "dependencies: [numpy]\n"}


def test_use_kernel_points_notebooks_at_the_environment_and_leaves_the_rest(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    (clone / "week1").mkdir(parents=True)
    (clone / ".git").mkdir()
    cell = {"cell_type": "markdown", "metadata": {}, "source": "é"}
    notebook = {"cells": [cell], "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    for path in ("intro.ipynb", "week1/lab.ipynb", ".git/hidden.ipynb"):
        (clone / path).write_text(json.dumps(notebook))
    (clone / "broken.ipynb").write_text("not json")
    assert use_kernel(clone, "campushub-env-abc", "Python (week1)") == 2
    changed = json.loads((clone / "week1/lab.ipynb").read_text())
    assert changed["metadata"]["kernelspec"] == {
        "name": "campushub-env-abc",
        "display_name": "Python (week1)",
        "language": "python",
    }
    assert changed["cells"] == [cell]
    assert json.loads((clone / ".git/hidden.ipynb").read_text())["metadata"]["kernelspec"]["name"] == "python3"
    assert (clone / "broken.ipynb").read_text() == "not json"
    assert use_kernel(clone, "campushub-env-abc", "Python (week1)") == 0, "nothing changes twice"


def test_servers_find_the_built_kernels_unless_builds_are_off(tmp_path: Path) -> None:
    from campushub.compute.backends.local import server_environment
    from campushub.hub.layout import layout_for

    config = parse_config("admins: [ada]\nenvironments:\n  directory: /srv/envs\n", tmp_path / "campus.yaml")
    assert server_environment(config, layout_for(config))["JUPYTER_PATH"] == "/srv/envs/share/jupyter"
    off = parse_config("admins: [ada]\nenvironments:\n  enabled: false\n", tmp_path / "campus.yaml")
    assert "JUPYTER_PATH" not in server_environment(off, layout_for(off))


def test_a_relative_directory_or_an_index_that_is_not_a_url_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="directory"):
        parse_config("admins: [ada]\nenvironments:\n  directory: envs\n", tmp_path / "campus.yaml")
    with pytest.raises(UserError, match="index_url"):
        parse_config("admins: [ada]\nenvironments:\n  index_url: pypi.example.edu\n", tmp_path / "campus.yaml")


def test_the_lock_is_an_flock_on_a_file_of_its_own(tmp_path: Path) -> None:
    envs = builder(tmp_path)
    with envs.lock(KEY), (tmp_path / "envs" / ".locks" / KEY).open("a") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_check_names_a_folder_above_the_environments_that_users_cannot_pass() -> None:
    from campushub.preflight import environments_dir_problem

    base = Path(tempfile.mkdtemp(dir="/var/tmp"))  # pytest's own folders are closed to others: not those
    try:
        base.chmod(0o755)
        private = base / "private"
        (private / "open").mkdir(parents=True)
        private.chmod(0o700)
        problem = environments_dir_problem(private / "open" / "envs")
        assert problem is not None and f"since {private} is closed to them (mode 700)" in problem
        assert f"chmod o+x {private}" in problem
        private.chmod(0o711)
        assert environments_dir_problem(private / "open" / "envs") is None
    finally:
        shutil.rmtree(base)
