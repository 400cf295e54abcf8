"""Per-user limits with this machine's real cgroups: memory, CPU and processes, for forked and fresh servers.

A student's runaway cell must stop at their own limit: the kernel is killed and says why under the
cell, the server and everybody else carry on.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.hub import CAMPUSHUB
from tests.helpers.hubclient import Kernel, receive
from tests.helpers.procfs import group_dir, own_groups
from tests.helpers.sign_in import running_student

pytestmark = pytest.mark.integration

LIMITS = {"compute.memory_limit": "300M", "compute.cpu_limit": 0.5, "compute.process_limit": 128}


def kernel_pid(kernel: Kernel, timeout: float | None = None) -> int:
    code = "import os; print(os.getpid())"
    return int((kernel.execute(code) if timeout is None else kernel.execute(code, timeout=timeout)).strip())


def server_pid_of(kernel: Kernel) -> int:
    return int(kernel.execute("import os; print(os.getppid())").strip())


def messages_until(kernel: Kernel, code: str, wanted: str, timeout: float = 120) -> list[dict]:
    """Send `code`; collect the messages about it until one's text holds `wanted` (the kernel may die meanwhile)."""
    ws = kernel._socket()
    msg_id = kernel.send(code)
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = receive(ws, deadline)
        except TimeoutError:
            break
        seen.append(message)
        if message.get("parent_header", {}).get("msg_id") == msg_id and wanted in json.dumps(message["content"]):
            return seen
    raise AssertionError(f"no message with {wanted!r}: {seen}")


@pytest.mark.parametrize("fast_spawn", [True, False], ids=["forked", "fresh"])
def test_servers_and_their_kernels_land_in_their_users_groups_with_the_limits(campus, hub_factory, fast_spawn):
    campus.update(**LIMITS, **{"compute.local.fast_spawn": fast_spawn})
    hub = hub_factory()
    alice = running_student(campus, hub, "alice")
    kernel = alice.kernel()
    server, child = server_pid_of(kernel), kernel_pid(kernel)
    for pid in (server, child):
        groups = own_groups(pid)
        for controller in ("memory", "cpu", "pids"):
            assert groups[controller].endswith("/users/alice"), (pid, controller, groups)
    memory = group_dir("memory", server)
    assert int((memory / "memory.limit_in_bytes").read_text()) == 300 << 20
    assert int((group_dir("cpu", server) / "cpu.cfs_quota_us").read_text()) == 50_000
    assert int((group_dir("pids", server) / "pids.max").read_text()) == 128
    print("tasks in alice's group:", (group_dir("pids", server) / "pids.current").read_text().strip())
    assert int(Path(f"/proc/{server}/oom_score_adj").read_text()) == 300
    hub_pid = int((campus.directory / "data" / "run" / "hub.pid").read_text())
    # -900 where root may lower scores (CAP_SYS_RESOURCE); below the users' servers' in any case.
    hub_score = int(Path(f"/proc/{hub_pid}/oom_score_adj").read_text())
    assert hub_score in (-900, 0) and hub_score < 300
    assert not own_groups(hub_pid)["memory"].endswith("/users/alice")


def test_a_cell_past_the_memory_limit_kills_the_kernel_only_and_says_why(campus, hub_factory):
    campus.update(**LIMITS)
    hub = hub_factory()
    alice = running_student(campus, hub, "alice")
    bob = running_student(campus, hub, "bob")
    kernel = alice.kernel()
    server, before = server_pid_of(kernel), kernel_pid(kernel)

    seen = messages_until(kernel, "hog = b'x' * (600 * 2**20)", "memory limit")
    notice = next(m for m in seen if "memory limit" in json.dumps(m["content"]))
    assert notice["msg_type"] == "stream" and notice["content"]["name"] == "stderr"
    assert "300 MiB" in notice["content"]["text"], notice["content"]["text"]

    kernel.close()
    # The kernel restarts; the same server answers. A request sent while the old kernel's channels are
    # being replaced can be dropped without a reply, so each try waits briefly and a new socket tries again.
    deadline = time.monotonic() + 120
    while True:
        try:
            after = kernel_pid(kernel, timeout=15)
            break
        except Exception as exc:
            print(f"the restarted kernel did not answer yet ({exc!r}); trying again on a new socket")
            kernel.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    assert after != before
    assert server_pid_of(kernel) == server
    assert kernel.execute("print(1 + 1)").strip() == "2"
    assert bob.kernel().execute("print(2 + 2)").strip() == "4"


def test_the_process_limit_stops_a_fork_bomb_inside_one_server(campus, hub_factory):
    campus.update(**LIMITS)
    hub = hub_factory()
    alice = running_student(campus, hub, "alice")
    kernel = alice.kernel()
    result = kernel.execute(
        "import subprocess\n"
        "started, refused = [], None\n"
        "try:\n"
        "    for _ in range(300):\n"
        "        started.append(subprocess.Popen(['sleep', '30']))\n"
        "except OSError as exc:\n"
        "    refused = type(exc).__name__\n"
        "for p in started: p.kill()\n"
        "print(len(started), refused)"
    )
    count, refused = result.split()
    assert int(count) < 128 and refused in ("BlockingIOError", "OSError"), result
    assert kernel.execute("print('still here')").strip() == "still here"


def test_a_cpu_limit_throttles_one_user_and_not_the_other(campus, hub_factory):
    campus.update(**LIMITS)
    hub = hub_factory()
    alice = running_student(campus, hub, "alice")
    bob = running_student(campus, hub, "bob")
    burner, quiet = alice.kernel(), bob.kernel()
    server = server_pid_of(burner)
    stat = group_dir("cpu", server) / "cpu.stat"
    throttled_before = int(dict(line.split() for line in stat.read_text().splitlines())["nr_throttled"])
    burner.send("import time\nend = time.time() + 6\nwhile time.time() < end: pass")
    time.sleep(2)
    latencies = []
    for _ in range(5):
        started = time.monotonic()
        assert quiet.execute("print(1 + 1)").strip() == "2"
        latencies.append(time.monotonic() - started)
    throttled = int(dict(line.split() for line in stat.read_text().splitlines())["nr_throttled"])
    print(f"bob's 1+1 while alice burns at her 0.5-core limit: {max(latencies) * 1000:.0f} ms at most")
    assert throttled > throttled_before, "alice's group was never held to its quota"
    assert max(latencies) < 2.0, latencies


def run_without_memory_cgroup(campus, *args: str) -> subprocess.CompletedProcess:
    """`campushub ARGS` on a machine without a usable memory controller: its v1 hierarchy unmounted in a
    mount namespace of its own (the cgroup v2 tree here does not hand out `memory`)."""
    script = 'umount /sys/fs/cgroup/memory && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *CAMPUSHUB, *args],
        cwd=campus.directory,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


def test_check_says_what_this_machine_enforces_and_up_refuses_what_it_cannot(campus):
    campus.update(**{"compute.memory_limit": "1G"})
    enforced = campus.cli("check")
    assert "ok   compute.memory_limit 1G (enforced with the cgroup v1 `memory` controller)" in enforced.stdout
    assert "ok   CPU limits (enforceable here with the cgroup v1 `cpu` controller)" in enforced.stdout
    assert "ok   process limits (enforceable here with the cgroup v1 `pids` controller)" in enforced.stdout

    check = run_without_memory_cgroup(campus, "check")
    assert "FAIL compute.memory_limit: `compute.memory_limit` is 1G, but this machine cannot enforce it" in (
        check.stdout
    ), check.stdout + check.stderr
    up = run_without_memory_cgroup(campus, "up")
    assert up.returncode == 2, up.stdout + up.stderr
    assert "cannot enforce it" in up.stderr and "Remove `compute.memory_limit`" in up.stderr
    assert "Traceback" not in up.stderr
