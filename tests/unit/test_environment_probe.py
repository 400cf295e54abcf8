"""The probe that keeps root from running code others can change: the environment, CampusHub, their parents."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

import campushub
from campushub.compute.host_probes import root_code_problem, who_else_writes, writers
from campushub.config.schema import CampusConfig
from campushub.hub.layout import Layout
from campushub.preflight import probes

NOBODY = 65534


def info(mode: int, uid: int = 0, gid: int = 0) -> os.stat_result:
    return os.stat_result((mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


@pytest.mark.parametrize(
    ("mode", "uid", "gid", "ancestor", "who"),
    [
        (stat.S_IFREG | 0o644, 0, 0, False, None),
        (stat.S_IFREG | 0o664, 0, 0, False, None),  # group-writable, but the group is root
        (stat.S_IFDIR | 0o775, 0, 0, True, None),
        (stat.S_IFREG | 0o644, NOBODY, 0, False, f"is owned by uid {NOBODY} (nobody)"),
        (stat.S_IFLNK | 0o777, NOBODY, 0, False, f"is owned by uid {NOBODY} (nobody)"),
        (stat.S_IFLNK | 0o777, 0, 0, False, None),  # a link's mode means nothing
        (stat.S_IFREG | 0o664, 0, NOBODY + 1, False, f"is writable by group {NOBODY + 1}"),
        (stat.S_IFREG | 0o646, 0, 0, False, "is writable by everyone"),
        (stat.S_IFDIR | 0o1777, 0, 0, True, None),  # /tmp above the tree: others cannot move root's entries
        (stat.S_IFDIR | 0o1777, 0, 0, False, "is writable by everyone"),  # inside it: they can add a .pth
        (stat.S_IFDIR | 0o777, 0, 0, True, "is writable by everyone"),
    ],
)
def test_who_else_writes(mode: int, uid: int, gid: int, ancestor: bool, who: str | None) -> None:
    assert who_else_writes(info(mode, uid, gid), ancestor=ancestor) == who


def fake_environment(directory: Path) -> Path:
    (directory / "bin").mkdir(parents=True)
    (directory / "lib" / "site-packages").mkdir(parents=True)
    (directory / "bin" / "python").symlink_to(Path(sys.prefix) / "bin" / "python")
    return directory


def layout_for(environment: Path) -> Layout:
    return Layout(data_dir=environment / "data", environment=environment, proxy_command="chp", running_as_root=True)


def test_a_root_owned_environment_passes(tmp_path: Path) -> None:
    environment = fake_environment(tmp_path / "env")
    assert writers([environment], []) == []
    assert root_code_problem(layout_for(environment)) is None


def test_a_file_others_own_deep_in_the_environment_is_found(tmp_path: Path) -> None:
    environment = fake_environment(tmp_path / "env")
    dropped = environment / "lib" / "site-packages" / "evil.pth"
    dropped.write_text("import os\n")
    os.chown(dropped, NOBODY, NOBODY)
    problem = root_code_problem(layout_for(environment))
    assert problem and f"{dropped} is owned by uid {NOBODY} (nobody)" in problem
    assert f"`chown -R root: {environment}; chmod -R go-w {environment}`" in problem
    assert "compute.local.fast_spawn: false" in problem


def test_a_parent_others_can_write_is_found_and_fixed_alone(tmp_path: Path) -> None:
    parent = tmp_path / "opt"
    environment = fake_environment(parent / "env")
    parent.chmod(0o777)
    found = writers([environment], [])
    assert [(writer.path, writer.who) for writer in found] == [(parent, "is writable by everyone")]
    assert found[0].fix == f"chown root: {parent}; chmod go-w {parent}"  # not -R: the rest of /opt is not ours


def test_links_are_not_followed_out_of_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o777)
    environment = fake_environment(tmp_path / "env")
    (environment / "lib" / "elsewhere").symlink_to(outside)
    assert writers([environment], []) == []


def test_the_interpreter_is_checked_where_its_link_leads(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    interpreter = real / "python3"
    interpreter.write_text("")
    os.chown(interpreter, NOBODY, NOBODY)
    environment = tmp_path / "env"
    (environment / "bin").mkdir(parents=True)
    (environment / "bin" / "python").symlink_to(interpreter)
    problem = root_code_problem(layout_for(environment))
    assert problem and f"{interpreter} is owned by uid {NOBODY}" in problem
    assert f"chown root: {interpreter}; chmod go-w {interpreter}" in problem


def test_more_than_a_few_are_counted_not_listed(tmp_path: Path) -> None:
    environment = fake_environment(tmp_path / "env")
    for number in range(8):
        path = environment / "lib" / f"m{number}.py"
        path.write_text("")
        path.chmod(0o666)
    problem = root_code_problem(layout_for(environment))
    assert problem and "(and 3 more)" in problem


def test_campushubs_own_install_passes_quickly() -> None:
    """The real environment (tens of thousands of files) and package: walked on every `up`, so it must be fast."""
    environment = Path(sys.prefix)
    started = time.perf_counter()
    problem = root_code_problem(layout_for(environment))
    elapsed = time.perf_counter() - started
    assert problem is None, problem
    assert elapsed < 5, f"walking {environment} and {Path(campushub.__file__).parent} took {elapsed:.1f}s"


def security_probes(config: CampusConfig, data_dir: Path, running_as_root: bool) -> list[str]:
    found = probes(config, Layout(data_dir, Path(sys.prefix), "chp", running_as_root))
    names = [probe.name for probe in found if probe.security]
    assert [probe.name for probe in found[: len(names)]] == names  # first, so that `up` reports them
    return names


def test_the_probe_runs_only_where_root_runs_the_fork_server(tmp_path: Path) -> None:
    fast = CampusConfig.model_validate({})
    slow = CampusConfig.model_validate({"compute": {"local": {"fast_spawn": False}}})
    assert security_probes(fast, tmp_path, True) == ["account prefix", "code run as root"]
    assert security_probes(fast, tmp_path, False) == ["account prefix"]
    assert security_probes(slow, tmp_path, True) == ["account prefix"]
