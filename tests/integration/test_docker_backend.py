"""The docker backend against a real Docker engine: servers in containers, as their own accounts, kept apart.

A student's server runs in a container built from campushub/user, as their own system account, with only
their home mounted; a cell allocating past the memory limit kills the kernel, not the server or the host;
the home outlives the container (removed at each stop); and one student's container can neither read
another's home nor reach another's server.
"""

from __future__ import annotations

import json
import pwd
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
import websocket

from tests.components.docker import DockerEngine
from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.hubclient import ExecutionError, Kernel, Student
from tests.helpers.sign_in import PASSWORD

pytestmark = pytest.mark.integration


@pytest.fixture
def docker_hub(campus, hub_factory, docker_engine: DockerEngine, user_image: str):
    campus.update(
        **{
            "compute.backend": "docker",
            "compute.memory_limit": "400M",
            "compute.process_limit": 256,
            "compute.docker": {
                "docker_host": docker_engine.docker_host,
                "hub_address": docker_engine.gateway,
                "user_prefix": TEST_USER_PREFIX,
                "image": user_image,
            },
        }
    )
    for name in ("dana", "dev"):
        campus.add_user(name, PASSWORD)
    return hub_factory()


def started(hub, name: str) -> Student:
    student = Student(hub.url, name)
    student.sign_in(PASSWORD)
    student.wait_for_server(timeout=120)
    return student


def container_names(engine: DockerEngine) -> list[str]:
    return [container["Names"] for container in engine.containers()]


def kernel_pid(kernel: Kernel) -> int:
    return int(kernel.execute("import os; print(os.getpid())").strip())


def pid_after_restart(kernel: Kernel, old: int, timeout: float = 120) -> int:
    """The kernel's pid once it answers again as a new process (Jupyter restarts a kernel that was killed).

    Each try is bounded: a request sent while the kernel dies is lost, and the server's websocket pings would
    keep a waiting receive alive forever; closing the socket ends a try that takes too long.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kernel.close()
        with ThreadPoolExecutor(1) as pool:
            attempt = pool.submit(kernel_pid, kernel)
            try:
                pid = attempt.result(timeout=15)
            except (FutureTimeout, ExecutionError, OSError, ValueError, websocket.WebSocketException):
                kernel.close()  # ends a receive still waiting in the thread
                time.sleep(1)
                continue
        if pid != old:
            return pid
        time.sleep(1)
    raise AssertionError("the kernel was not restarted after going past the memory limit")


def test_a_container_runs_as_its_person_with_limits_and_keeps_the_home(campus, docker_hub, docker_engine):
    dana = started(docker_hub, "dana")
    account = pwd.getpwnam(TEST_USER_PREFIX + "dana")
    kernel = dana.kernel()
    assert kernel.execute("1+1").strip() == "2"
    assert kernel.execute("import os; print(os.getuid(), os.getgid())").split() == [
        str(account.pw_uid),
        str(account.pw_gid),
    ]
    assert kernel.execute("import os; print(sorted(os.listdir('/home')))").strip() == "['dana']"
    kernel.execute("open('/home/dana/kept.txt', 'w').write('still here')")
    with open(f"{account.pw_dir}/kept.txt") as kept:  # written through the container into the host's home
        assert kept.read() == "still here"

    before = kernel_pid(kernel)
    kernel.send("hog = bytearray(900 << 20)")  # past the 400M limit: the kernel is killed, not the server
    after = pid_after_restart(kernel, before)
    assert after != before
    assert dana.server_api("GET", "/status").status_code == 200
    kernel.close()

    dana.stop_server()
    assert "jupyter-dana" not in container_names(docker_engine)  # removed at the stop; the home stays
    dana.start_server()
    again = dana.kernel()
    assert again.execute("print(open('/home/dana/kept.txt').read())").strip() == "still here"
    again.close()


def test_one_container_cannot_read_another_home_nor_reach_another_server(campus, docker_hub, docker_engine):
    dana = started(docker_hub, "dana")
    dev = started(docker_hub, "dev")
    inspected = docker_engine.docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", "jupyter-dana")
    address = next(iter(json.loads(inspected.stdout).values()))["IPAddress"]
    assert address

    kernel = dev.kernel()
    assert kernel.execute("import os; print(sorted(os.listdir('/home')))").strip() == "['dev']"
    home = pwd.getpwnam(TEST_USER_PREFIX + "dana").pw_dir
    assert kernel.execute(f"import os; print(os.path.exists({home!r}))").strip() == "False"
    reach = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(({address!r}, 8888), timeout=5).close(); print('reached')\n"
        "except OSError as e:\n"
        "    print('blocked', type(e).__name__)\n"
    )
    assert kernel.execute(reach).startswith("blocked"), address
    # The hub itself reaches both: each server answers through the proxy.
    assert dana.server_api("GET", "/status").status_code == 200
    assert dev.server_api("GET", "/status").status_code == 200
    kernel.close()


def test_check_asks_the_engine_and_names_a_missing_image(campus, docker_engine, user_image):
    campus.update(
        **{
            "compute.backend": "docker",
            "compute.docker": {
                "docker_host": docker_engine.docker_host,
                "hub_address": docker_engine.gateway,
                "user_prefix": TEST_USER_PREFIX,
                "image": user_image,
            },
            "compute.profiles": {"old": {"title": "Old image", "image": "campushub/user:0.0.1"}},
        }
    )
    checked = campus.cli("check")
    assert "ok   Docker engine" in checked.stdout, checked.stdout + checked.stderr
    assert f"ok   compute.docker.image ({user_image})" in checked.stdout
    assert f"ok   hub address {docker_engine.gateway}" in checked.stdout
    assert checked.returncode == 1
    assert "FAIL compute.profiles.old.image: the image campushub/user:0.0.1 is not on the Docker engine" in (
        checked.stdout
    )
