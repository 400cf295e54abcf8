"""Restarts keep every server: a killed hub, proxy or `up`, a reload, a server killed behind the hub's back.

Each test kills real processes of a real CampusHub and checks what a student would notice: the same
kernel still holds its variables, the routes come back, and nothing is left holding the ports.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.helpers.hub import start_hub
from tests.helpers.hubclient import Student
from tests.helpers.procfs import alive, all_pids, cmdline, parent
from tests.helpers.restarts import (
    hub_answers,
    new_hub_running,
    pid_in,
    route_works,
    run_dir,
    server_pid,
    wait_until,
)
from tests.helpers.sign_in import PASSWORD, running_student

pytestmark = pytest.mark.integration


def test_a_killed_hub_comes_back_and_the_same_kernel_keeps_its_variables(campus, hub):
    alice = running_student(campus, hub, "alice")
    kernel = alice.kernel()
    kernel.execute("answer = 41")
    server = server_pid(campus, "alice")
    old_hub = pid_in(run_dir(campus) / "hub.pid")

    os.kill(old_hub, signal.SIGKILL)
    wait_until(lambda: new_hub_running(campus, old_hub), 30, "a new hub")
    wait_until(lambda: hub_answers(hub) and route_works(alice), 30, "the hub and alice's route")
    assert "The hub ended unexpectedly" in hub.output()

    assert alive(server) and server_pid(campus, "alice") == server
    kernel.close()  # the proxy was restarted with the hub: a new websocket to the same kernel
    assert kernel.execute("print(answer + 1)").strip() == "42"
    assert alice.server()["ready"]


def test_a_killed_proxy_is_back_with_its_routes_within_ten_seconds(campus, hub):
    alice = running_student(campus, hub, "alice")
    proxy = pid_in(run_dir(campus) / "proxy.pid")
    os.kill(proxy, signal.SIGKILL)
    took = wait_until(lambda: route_works(alice), 10, "alice's route after the proxy was killed")
    print(f"routes back {took:.1f} s after the proxy was killed")
    assert pid_in(run_dir(campus) / "proxy.pid") != proxy


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_when_up_is_killed_nothing_lingers_and_the_next_up_takes_the_servers_back(campus, hub_factory):
    hub = hub_factory()
    alice = running_student(campus, hub, "alice")
    kernel = alice.kernel()
    kernel.execute("kept = 'still here'")
    server = server_pid(campus, "alice")
    hub_pid, proxy_pid = pid_in(run_dir(campus) / "hub.pid"), pid_in(run_dir(campus) / "proxy.pid")

    hub.process.kill()  # SIGKILL to `up` alone: nothing of its own clean-up runs
    hub.process.wait()
    wait_until(lambda: not alive(hub_pid) and not alive(proxy_pid), 30, "hub and proxy gone with `up`")
    wait_until(
        lambda: not any(listening(port) for port in (campus.port, campus.port + 1, campus.port + 2)),
        10,
        "the ports free",
    )
    assert alive(server), "the user's server must outlive CampusHub"

    again = hub_factory()
    wait_until(lambda: route_works(alice), 30, "alice's route after the next up")
    kernel.close()
    assert kernel.execute("print(kept)").strip() == "still here"
    assert server_pid(campus, "alice") == server
    assert "already running" not in again.output()


def test_sigterm_keeps_servers_for_the_next_up_and_ctrl_c_stops_them(campus, hub_factory):
    hub = hub_factory()
    alice = running_student(campus, hub, "alice")
    server = server_pid(campus, "alice")
    assert hub.stop(signal.SIGTERM) == 0
    assert alive(server)

    again = hub_factory()
    wait_until(lambda: route_works(alice), 30, "alice's route after a restart")
    assert again.stop(signal.SIGINT) == 0
    wait_until(lambda: not alive(server), 30, "alice's server stopped by Ctrl-C")
    assert "Stopped 1 user server(s)" in again.output()


def test_a_second_up_on_the_same_data_directory_is_refused(campus, hub):
    result = campus.cli("up")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "already running" in result.stderr and "campushub reload" in result.stderr


def test_reload_applies_a_new_idle_timeout_without_restarting_any_server(campus, hub):
    alice = running_student(campus, hub, "alice")
    kernel = alice.kernel()
    kernel.execute("answer = 6 * 7")
    server = server_pid(campus, "alice")
    old_hub = pid_in(run_dir(campus) / "hub.pid")

    campus.update(**{"compute.idle_timeout": "2h"})
    result = campus.cli("reload")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "compute.idle_timeout" in result.stdout
    assert "no user's server was stopped" in result.stdout

    assert new_hub_running(campus, old_hub)
    culler = [cmdline(pid) for pid in culler_pids(campus)]
    assert len(culler) == 1 and b"--timeout=7200" in culler[0], culler
    assert server_pid(campus, "alice") == server
    wait_until(lambda: route_works(alice), 30, "alice's route after the reload")
    kernel.close()
    assert kernel.execute("print(answer)").strip() == "42"


def test_reload_refuses_a_broken_file_and_a_new_data_dir_and_changes_nothing(campus, hub):
    old_hub = pid_in(run_dir(campus) / "hub.pid")
    good = campus.config_path.read_text()
    campus.config_path.write_text(good + "\ncompute:\n  idle_timeout: soon\n")
    broken = campus.cli("reload")
    assert broken.returncode == 2 and "idle_timeout" in broken.stderr, broken.stderr
    assert "Traceback" not in broken.stderr

    campus.config_path.write_text(good)
    campus.update(data_dir="elsewhere")
    moved = campus.cli("reload")
    assert moved.returncode == 2 and "data_dir" in moved.stderr, moved.stderr
    assert pid_in(run_dir(campus) / "hub.pid") == old_hub


def test_a_server_killed_behind_the_hubs_back_shows_stopped_and_starts_again_with_its_files(campus, hub):
    alice = running_student(campus, hub, "alice")
    alice.kernel().execute("open('notes.txt', 'w').write('mine')")
    os.kill(server_pid(campus, "alice"), signal.SIGKILL)
    wait_until(lambda: alice.server() is None, 30, "the hub seeing alice's server stopped")
    alice.start_server()
    assert alice.kernel().execute("print(open('notes.txt').read())").strip() == "mine"


def test_killing_the_hub_during_a_start_burst_leaves_every_student_a_server_or_a_clear_start_again(campus, hub_factory):
    hub = hub_factory()
    names = [f"burst{i}" for i in range(20)]
    for name in names:
        campus.add_user(name, PASSWORD)
    students = [Student(hub.url, name) for name in names]

    def sign_in(student: Student) -> None:
        student.sign_in(PASSWORD)  # a sign-in starts the server

    with ThreadPoolExecutor(len(students)) as pool:
        list(pool.map(sign_in, students))
    time.sleep(2)  # mid-burst: some servers up, some starting, some waiting in line
    old_hub = pid_in(run_dir(campus) / "hub.pid")
    os.kill(old_hub, signal.SIGKILL)
    wait_until(lambda: new_hub_running(campus, old_hub), 30, "a new hub")
    wait_until(lambda: hub_answers(hub), 30, "the new hub answering")

    def outcome(student: Student) -> str:
        """'running' or 'started again': each student either has a server, or is shown none and starts one.

        A start the killed hub left pending is either finished by the new hub or, when that server never
        answers, ended by it: the student then sees no server and starts again, as the pending page offers.
        """
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            server = student.server()
            if server and server.get("ready") and route_works_after_visit(student):
                return "running"
            if not server:
                student.start_server()
                return "started again"
            time.sleep(0.5)
        raise AssertionError(f"{student.name}'s server neither ready nor gone after 240 s: {student.server()}")

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(outcome, students))
    assert set(outcomes) <= {"running", "started again"}, outcomes
    for student in students:
        assert route_works(student), student.name
        server_pid(campus, student.name)  # exactly one server each: no orphan of an interrupted start lingers
    print("after the kill:", {kind: outcomes.count(kind) for kind in set(outcomes)})


def route_works_after_visit(student: Student) -> bool:
    try:
        student.session.get(f"{student.base_url}/user/{student.name}/lab", timeout=10)
    except requests.RequestException:
        return False
    return route_works(student)


def test_up_stops_after_a_crash_loop_instead_of_restarting_forever(campus):
    """A hub that cannot start at all (a broken escape-hatch file) ends `up` with an error for systemd."""
    config_d = campus.directory / "data" / "jupyterhub_config.d"
    config_d.mkdir(parents=True, exist_ok=True)
    hub = start_hub(campus)
    try:
        (config_d / "zz-broken.py").write_text("raise SystemExit(3)\n")
        os.kill(pid_in(run_dir(campus) / "hub.pid"), signal.SIGKILL)
        hub.process.wait(timeout=300)
        assert hub.process.returncode == 1
        assert "ended 6 times in a row within 60 seconds of starting" in hub.output()
    finally:
        hub.stop()


def culler_pids(campus) -> list[int]:
    """This campus's idle culler, under its lifeline under its hub (other hubs may run on the machine)."""
    hub_pid = pid_in(run_dir(campus) / "hub.pid")
    return [
        pid
        for pid in all_pids()
        if alive(pid)
        and b"jupyterhub_idle_culler" in cmdline(pid)
        and b"lifeline.py" not in cmdline(pid)
        and parent(parent(pid) or 0) == hub_pid
    ]


def test_a_killed_service_is_started_again(campus, hub):
    [culler] = culler_pids(campus)
    os.kill(culler, signal.SIGKILL)
    took = wait_until(lambda: culler_pids(campus) not in ([], [culler]), 10, "a new idle culler")
    print(f"the idle culler was back {took:.1f} s after it was killed")
    assert hub_answers(hub)
