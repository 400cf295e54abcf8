"""The suite's parallel workers never share what the machine has one of (tests/helpers/parallel.py)."""

from __future__ import annotations

from tests.helpers.parallel import DOCKER, MACHINE, SLURM, group_of, worker_port_share


def test_a_file_is_its_own_group() -> None:
    assert group_of("tests/integration/test_signup.py", ["campus", "hub"]) == "tests/integration/test_signup.py"
    assert group_of("tests/unit/test_ports.py", []) == "tests/unit/test_ports.py"


def test_the_docker_engine_and_the_slurm_cluster_each_keep_their_tests_on_one_worker() -> None:
    assert group_of("tests/integration/test_docker_engine.py", ["docker_engine"]) == DOCKER
    assert group_of("tests/integration/test_docker_backend.py", ["campus", "user_image"]) == DOCKER
    assert group_of("tests/integration/test_slurm_backend.py", ["campus", "slurm"]) == SLURM


def test_cgroup_limits_and_benchmark_smoke_tests_share_one_group() -> None:
    assert group_of("tests/integration/test_limits.py", ["campus"]) == MACHINE
    assert group_of("tests/integration/test_profiles.py", ["campus"]) == MACHINE
    assert group_of("tests/bench/test_lecture_start_smoke.py", []) == MACHINE
    assert group_of("tests/bench/test_noisy_neighbour_smoke.py", []) == MACHINE
    assert group_of("tests/bench/test_cputree.py", []) == "tests/bench/test_cputree.py"  # pure, no hub


def test_each_worker_takes_its_slice_of_ports() -> None:
    assert worker_port_share({"PYTEST_XDIST_WORKER": "gw1", "PYTEST_XDIST_WORKER_COUNT": "2"}) == "1/2"
    assert worker_port_share({}) is None
    assert worker_port_share({"PYTEST_XDIST_WORKER": "master", "PYTEST_XDIST_WORKER_COUNT": "2"}) is None
