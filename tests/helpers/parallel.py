"""Which tests may run at the same time on the suite's parallel workers (pytest-xdist, `--dist loadgroup`).

Every test gets a group, and a group runs on one worker, its tests one after another. By default a
test file is its own group, so a file's module fixtures start once and its tests keep their order.
Files that use something of which the machine has only one are put into one group together:

- the Docker engine: one bridge (chub-test0), one address pool and one image cache for the tests;
- the Slurm cluster: slurmd runs jobs as real accounts on the one node, and its time limits are clocks
  that a loaded machine would stretch;
- users' cgroups and the benchmarks' smoke tests: cgroups are named `<own>/users/<name>` under the
  cgroup the tests run in, so two hubs with limits would share "alice"'s group; the benchmarks create
  their stock JupyterHub students under fixed names, and measure CPU, which the other worker would blur.

Everything else is apart already: each worker has its own TEST_USER_PREFIX, its own slice of ports
(bench.ports' CAMPUSHUB_PORT_SHARE), its own temporary directories and its own PostgreSQL, slapd and browser.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import PurePosixPath

from bench.ports import PORT_SHARE_ENV

DOCKER = "docker-engine"
SLURM = "slurm-cluster"
MACHINE = "cgroups-and-benchmarks"

FIXTURE_GROUPS = {"docker_engine": DOCKER, "user_image": DOCKER, "slurm": SLURM}
FILE_GROUPS = {
    "tests/integration/test_limits.py": MACHINE,
    "tests/integration/test_profiles.py": MACHINE,
}
BENCHMARK_SMOKE_TESTS = PurePosixPath("tests/bench")


def group_of(relative_path: str, fixture_names: Iterable[str]) -> str:
    """The group of a test in `relative_path` (from the checkout) that uses `fixture_names`."""
    for fixture in fixture_names:
        if fixture in FIXTURE_GROUPS:
            return FIXTURE_GROUPS[fixture]
    if relative_path in FILE_GROUPS:
        return FILE_GROUPS[relative_path]
    path = PurePosixPath(relative_path)
    if path.parent == BENCHMARK_SMOKE_TESTS and path.stem.endswith("_smoke"):
        return MACHINE
    return relative_path


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
