"""The Docker engine the Docker backend will run users' servers on: a private dockerd and the images built here.

What the backend will count on: the user image runs Python as an unprivileged uid, a container reaches a
server on the host's bridge address (where the hub will listen), and a memory limit is enforced by the kernel.
The images are built by campushub.compute.images into the engine's cached data root: minutes the first time,
seconds after (nothing is rebuilt while its inputs are unchanged).
"""

from __future__ import annotations

import socket
import threading

import pytest

from tests.components.docker import DockerEngine

pytestmark = pytest.mark.integration

USER_UID = "10001:100"


@pytest.fixture
def engine(docker_engine: DockerEngine) -> DockerEngine:
    return docker_engine


def test_the_user_image_runs_python_as_a_non_root_uid(engine: DockerEngine, user_image: str) -> None:
    result = engine.run(
        user_image,
        "python",
        "-c",
        "import os; print(1+1); print(os.getuid())",
        options=["--user", USER_UID],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", USER_UID.split(":")[0]]


def test_the_user_environment_has_the_singleuser_server_and_the_stack(engine: DockerEngine, user_image: str) -> None:
    result = engine.run(
        user_image,
        "sh",
        "-c",
        "jupyterhub-singleuser --version && python -c 'import jupyterlab, ipykernel, numpy, pandas, scipy, matplotlib'",
        options=["--user", USER_UID, "--env", "HOME=/tmp"],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("6."), result.stdout


def test_a_container_reaches_a_server_on_the_hosts_bridge_address(engine: DockerEngine, user_image: str) -> None:
    peers: list[str] = []
    with socket.create_server((engine.gateway, 0)) as server:
        server.settimeout(60)
        port = server.getsockname()[1]

        def answer_once() -> None:
            try:
                connection, (peer, _) = server.accept()
            except OSError:
                return
            with connection:
                peers.append(peer)
                connection.sendall(b"hub says hello\n")

        thread = threading.Thread(target=answer_once, daemon=True)
        thread.start()
        client = (
            "import socket, sys; "
            f"s = socket.create_connection(({engine.gateway!r}, {port}), timeout=10); "
            "sys.stdout.write(s.recv(64).decode())"
        )
        result = engine.run(user_image, "python", "-c", client, options=["--user", USER_UID])
        thread.join(timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hub says hello\n"
    assert len(peers) == 1
    assert peers[0].startswith(engine.subnet.rsplit(".", 1)[0] + "."), peers  # from the container, not loopback


def test_a_process_allocating_past_the_memory_limit_is_killed(engine: DockerEngine, user_image: str) -> None:
    allocate = "import time; chunk = b'x' * (256 << 20); time.sleep(5); print('survived')"
    result = engine.run(
        user_image,
        "python",
        "-c",
        allocate,
        options=["--user", USER_UID, "--memory", "64m", "--memory-swap", "64m"],
    )
    assert result.returncode == 137, (result.returncode, result.stdout, result.stderr)
    assert "survived" not in result.stdout
