"""Finding a campus's processes again across restarts and reloads: pid files, a person's server, routes."""

from __future__ import annotations

import pwd
import time
from pathlib import Path

import requests

from tests.helpers.hub import TEST_USER_PREFIX, RunningHub
from tests.helpers.hubclient import Student
from tests.helpers.procfs import alive, all_pids, parent, real_uid


def run_dir(campus) -> Path:
    return campus.directory / "data" / "run"


def pid_in(path: Path) -> int:
    return int(path.read_text().strip())


def wait_until(condition, timeout: float, what: str) -> float:
    """Seconds it took for `condition()` to hold; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.2)
    return time.monotonic() - started


def server_pid(campus, name: str) -> int:
    """The pid of `name`'s server: the process of their account whose parent is not theirs (kernels' parent is)."""
    uid = pwd.getpwnam(TEST_USER_PREFIX + name).pw_uid
    pids = [pid for pid in all_pids() if real_uid(pid) == uid and alive(pid)]  # zombies are gone
    servers = [pid for pid in pids if real_uid(parent(pid) or 0) != uid]
    assert len(servers) == 1, (name, pids, servers)
    return servers[0]


def hub_answers(hub: RunningHub) -> bool:
    try:
        return requests.get(f"{hub.url}/hub/api/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def route_works(student: Student) -> bool:
    try:
        return student.server_api("GET", "/status", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def new_hub_running(campus, before: int) -> bool:
    path = run_dir(campus) / "hub.pid"
    return path.exists() and pid_in(path) != before and alive(pid_in(path))
