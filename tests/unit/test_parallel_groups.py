"""The suite's parallel workers never share what the machine has one of (tests/helpers/parallel.py)."""

from __future__ import annotations

import pytest

from tests.helpers.parallel import (
    DOCKER,
    MACHINE,
    SLURM,
    WrongGroup,
    check_group,
    file_of,
    group_of,
    rank,
    worker_port_share,
)


def test_a_file_is_its_own_group() -> None:
    assert group_of("tests/integration/test_signup.py") == "tests/integration/test_signup.py"
    assert group_of("tests/unit/test_ports.py") == "tests/unit/test_ports.py"
    assert file_of("tests/unit/test_ports.py::test_x[a::b]") == "tests/unit/test_ports.py"


def test_the_docker_engine_the_slurm_cluster_and_cgroups_each_keep_their_files_on_one_worker() -> None:
    assert group_of("tests/integration/test_docker_engine.py") == group_of("tests/integration/test_docker_backend.py")
    assert group_of("tests/integration/test_docker_engine.py") == DOCKER
    assert group_of("tests/integration/test_slurm_backend.py") == group_of("tests/integration/test_slurm_cluster.py")
    assert group_of("tests/integration/test_slurm_cluster.py") == SLURM
    for path in ("tests/integration/test_limits.py", "tests/integration/test_profiles.py",
                 "tests/bench/test_lecture_start_smoke.py", "tests/bench/test_noisy_neighbour_smoke.py"):  # fmt: skip
        assert group_of(path) == MACHINE, path
    assert group_of("tests/bench/test_cputree.py") == "tests/bench/test_cputree.py"  # pure, no hub


def test_a_file_using_a_machine_wide_component_outside_its_group_is_stopped_with_where_to_add_it() -> None:
    check_group("tests/integration/test_docker_backend.py", ["campus", "docker_engine", "user_image"])
    check_group("tests/integration/test_slurm_cluster.py", ["slurm"])
    with pytest.raises(WrongGroup, match=r"test_new\.py uses the `docker_engine` fixture.*FILE_GROUPS"):
        check_group("tests/integration/test_new.py", ["campus", "docker_engine"])


def test_long_groups_come_first_and_unit_tests_last() -> None:
    order = sorted(
        ["tests/unit/test_ports.py", "tests/integration/test_signup.py", "tests/integration/test_slurm_backend.py",
         "tests/browser/test_library.py", "tests/integration/test_limits.py"],
        key=rank,
    )  # fmt: skip
    assert order == [
        "tests/integration/test_slurm_backend.py",
        "tests/integration/test_limits.py",
        "tests/browser/test_library.py",
        "tests/integration/test_signup.py",
        "tests/unit/test_ports.py",
    ]


def test_each_worker_takes_its_slice_of_ports() -> None:
    assert worker_port_share({"PYTEST_XDIST_WORKER": "gw1", "PYTEST_XDIST_WORKER_COUNT": "2"}) == "1/2"
    assert worker_port_share({}) is None
    assert worker_port_share({"PYTEST_XDIST_WORKER": "master", "PYTEST_XDIST_WORKER_COUNT": "2"}) is None
