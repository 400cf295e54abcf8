"""Fast spawn: servers forked by the fork server are the same as servers started afresh, and as isolated.

Each test compares what the kernel knows (/proc) of a forked server with a server started afresh
(`compute.local.fast_spawn: false`) for the same account, rather than trusting either to report
on itself.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import websocket

from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.hubclient import Student, receive
from tests.helpers.procfs import forkserver_pid, memory_contains, server_pid, status
from tests.helpers.sign_in import PASSWORD, running_student

pytestmark = pytest.mark.integration

CANARY = "CAMPUSHUB_TEST_CANARY"
# Differ between any two starts of the same server (or kernel).
PER_START = {"JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "JUPYTERHUB_SERVICE_URL", "JPY_PARENT_PID", "JPY_SESSION_NAME"}


def identity(pid: int) -> dict:
    fields = status(pid)
    return {
        "uid": fields["Uid"],
        "gid": fields["Gid"],
        "groups": sorted(fields["Groups"].split()),
        "umask": fields["Umask"],
        "cwd": str(Path(f"/proc/{pid}/cwd").readlink()),
        "session_leader": Path(f"/proc/{pid}/stat").read_text().split()[5] == str(pid),
    }


def kernel_environment(student: Student) -> dict[str, str]:
    """The environment user code sees: the server's own (os.environ), as its kernels inherit it."""
    kernel = student.kernel()
    try:
        return json.loads(kernel.execute("import json, os; print(json.dumps(dict(os.environ)))"))
    finally:
        kernel.close()


def server_as_started(campus, hub_factory, name: str, *, fast: bool) -> tuple[dict, dict]:
    """(identity, environment) of `name`'s server, on a hub with fast spawn on or off."""
    campus.update(**{"compute.local.fast_spawn": fast})
    hub = hub_factory(env={CANARY: "from-the-hub"})
    student = sign_in(hub, name)
    pid = server_pid(f"{TEST_USER_PREFIX}{name}")
    found = identity(pid), kernel_environment(student)
    student.stop_server()
    hub.stop()
    return found


def sign_in(hub, name: str) -> Student:
    student = Student(hub.url, name)
    student.sign_in(PASSWORD)
    student.wait_for_server()
    return student


def test_a_forked_server_is_the_user_exactly_as_a_fresh_start(campus, hub_factory):
    name = "fay"
    account = f"{TEST_USER_PREFIX}{name}"
    course_group = f"{TEST_USER_PREFIX}course"
    campus.add_user(name, PASSWORD)
    server_as_started(campus, hub_factory, name, fast=False)  # makes the system account
    # A supplementary group, as a course's shared-data group would be: both ways must carry it.
    subprocess.run(["groupadd", "-f", course_group], check=True)
    subprocess.run(["usermod", "-aG", course_group, account], check=True)
    try:
        fresh_identity, fresh_env = server_as_started(campus, hub_factory, name, fast=False)
        forked_identity, forked_env = server_as_started(campus, hub_factory, name, fast=True)
    finally:
        subprocess.run(["gpasswd", "-d", account, course_group], capture_output=True)
        subprocess.run(["groupdel", course_group], capture_output=True)

    assert forked_identity == fresh_identity
    assert forked_identity["session_leader"] is True
    assert len(fresh_identity["groups"]) >= 2, "the course group should be among the supplementary groups"
    assert set(forked_env) == set(fresh_env), set(forked_env) ^ set(fresh_env)
    for key in set(fresh_env) - PER_START:
        assert forked_env[key] == fresh_env[key], key
    assert forked_env["HOME"] == fresh_env["HOME"] and forked_env["HOME"].endswith(f"/{account}")
    assert CANARY not in forked_env and CANARY not in fresh_env


def test_the_fork_server_keeps_no_users_secret(campus, hub):
    """The parent never reads a request, so no student's API token is left in its memory for the next fork."""
    alice = running_student(campus, hub, "alice")
    token = kernel_environment(alice)["JUPYTERHUB_API_TOKEN"]
    assert token
    assert "Forked alice's server" in hub.output()
    forkserver = forkserver_pid(campus.directory)
    assert memory_contains(forkserver, b"forkserver.sock")  # the search does find what is there
    assert not memory_contains(forkserver, token.encode())
    alice.stop_server()


def test_forked_servers_save_files_and_run_terminals(campus, hub):
    alice = running_student(campus, hub, "alice")
    assert "Forked alice's server" in hub.output()
    notebook = {"type": "notebook", "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}
    assert alice.server_api("PUT", "/contents/forked.ipynb", json=notebook).status_code in (200, 201)
    pid = server_pid(f"{TEST_USER_PREFIX}alice")
    saved = Path(kernel_environment(alice)["HOME"]) / "forked.ipynb"
    assert str(saved.stat().st_uid) == status(pid)["Uid"].split()[0]

    terminal = alice.server_api("POST", "/terminals")
    assert terminal.status_code == 200, terminal.text
    ws_url = alice.base_url.replace("http", "ws", 1)
    cookies = "; ".join(f"{c.name}={c.value}" for c in alice.session.cookies)
    ws = websocket.create_connection(
        f"{ws_url}/user/alice/terminals/websocket/{terminal.json()['name']}", cookie=cookies, timeout=30
    )
    try:
        ws.send(json.dumps(["stdin", "id -un; echo done-$((6*7))\r"]))
        output, deadline = "", time.monotonic() + 30
        while "done-42" not in output and time.monotonic() < deadline:
            message = receive(ws, deadline)
            if message[0] == "stdout":
                output += message[1]
        assert "done-42" in output, output
        assert f"{TEST_USER_PREFIX}alice" in output
    finally:
        ws.close()


def test_a_fork_server_out_of_reach_means_servers_start_afresh(campus, hub):
    # Its socket gone, the fork server runs on unreachable. (Killing it is no test of this: `up` starts a killed
    # fork server again within seconds, often before the student's start.)
    forkserver_pid(campus.directory)  # it is there
    (campus.directory / "data" / "run" / "forkserver.sock").unlink()
    alice = running_student(campus, hub, "alice")
    assert alice.kernel().execute("print(1+1)").strip() == "2"
    assert "Fast spawn unavailable for alice" in hub.output()
