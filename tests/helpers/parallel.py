"""Which tests may run at the same time on the suite's parallel workers (pytest-xdist, `make test`).

Every test file belongs to a group, and a group runs on one worker, its tests one after another, so a
file's module fixtures start once and its tests keep their order. By default a file is a group of its
own. Files that use something of which the machine has only one share a group:

- the Docker engine: one bridge (chub-test0), one address pool and one image cache for the tests;
- the Slurm cluster: slurmd runs jobs as real accounts on the one node, and its time limits are clocks
  that a loaded machine would stretch;
- users' cgroups and the benchmarks' smoke tests: cgroups are named `<own>/users/<name>` under the
  cgroup the tests run in, so two hubs with limits would share "alice"'s group; the benchmarks create
  their stock JupyterHub students under fixed names, and measure CPU, which the other worker would blur.

The groups are given to xdist by a scheduler of our own (`GroupScheduling`): xdist's `loadgroup` marks
rewrite a node id attribute that pytest 9 no longer reads, and so silently schedule every test alone.
A test that asks for the Docker engine or the Slurm cluster from a file outside their group stops the
collection with a message (`check_group`), so a new file cannot share them by accident.

Everything else is apart already: each worker has its own TEST_USER_PREFIX, its own slice of ports
(bench.ports' CAMPUSHUB_PORT_SHARE), its own temporary directories and its own PostgreSQL, slapd and browser.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from bench.ports import PORT_SHARE_ENV

DOCKER = "docker-engine"
SLURM = "slurm-cluster"
MACHINE = "cgroups-and-benchmarks"

FILE_GROUPS = {
    "tests/integration/test_docker_backend.py": DOCKER,
    "tests/integration/test_docker_engine.py": DOCKER,
    "tests/integration/test_slurm_backend.py": SLURM,
    "tests/integration/test_slurm_cluster.py": SLURM,
    "tests/integration/test_limits.py": MACHINE,
    "tests/integration/test_profiles.py": MACHINE,
}
FIXTURE_GROUPS = {"docker_engine": DOCKER, "user_image": DOCKER, "slurm": SLURM}
BENCHMARK_SMOKE_TESTS = PurePosixPath("tests/bench")
# Longest first, so that no long group starts last while the other worker has nothing left (measured: the
# shared groups take 4-6 minutes each; then the browser, the integration files, and the quick unit tests).
FIRST = (SLURM, MACHINE, DOCKER, "tests/browser/", "tests/integration/", "tests/bench/", "tests/unit/")


class WrongGroup(Exception):
    """A test uses a machine-wide component from a file outside that component's group."""


def group_of(relative_path: str) -> str:
    """The group of the test file at `relative_path` (from the checkout)."""
    if relative_path in FILE_GROUPS:
        return FILE_GROUPS[relative_path]
    path = PurePosixPath(relative_path)
    if path.parent == BENCHMARK_SMOKE_TESTS and path.stem.endswith("_smoke"):
        return MACHINE
    return relative_path


def check_group(relative_path: str, fixture_names: Iterable[str]) -> None:
    for fixture in fixture_names:
        wanted = FIXTURE_GROUPS.get(fixture)
        if wanted and group_of(relative_path) != wanted:
            raise WrongGroup(
                f"{relative_path} uses the `{fixture}` fixture, of which the machine has one: add the file to "
                f"the {wanted!r} group in tests/helpers/parallel.py (FILE_GROUPS)"
            )


def rank(relative_path: str) -> int:
    """Where a file's group comes in the order the workers take groups in (lower first)."""
    group = group_of(relative_path)
    for position, first in enumerate(FIRST):
        if group == first or group.startswith(first):
            return position
    return len(FIRST)


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def group_scheduling(config: Any, log: Any) -> Any:
    """xdist's scope scheduler with a test's scope being its file's group, in the collection's order."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(file_of(nodeid))

    config.option.loadscopereorder = False  # keep the order tests/conftest.py sorted the collection into
    return GroupScheduling(config, log)


def worker_port_share(environ: dict[str, str] | os._Environ) -> str | None:
    """This worker's slice of ports as "INDEX/COUNT", or None outside a parallel run."""
    worker, count = environ.get("PYTEST_XDIST_WORKER", ""), environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not worker.startswith("gw") or not count.isdigit():
        return None
    return f"{int(worker.removeprefix('gw'))}/{int(count)}"


def claim_port_share() -> None:
    """Called before any port is handed out: this worker takes only its slice."""
    share = worker_port_share(os.environ)
    if share:
        os.environ[PORT_SHARE_ENV] = share
