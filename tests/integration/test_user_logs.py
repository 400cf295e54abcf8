"""Users' server output goes to a log of their own, never into the hub's log where it could forge hub lines."""

from __future__ import annotations

import secrets
import stat
import time
from pathlib import Path

import pytest

from tests.helpers.sign_in import running_student

pytestmark = pytest.mark.integration


def forge(kernel, marker: str) -> None:
    """Write a line shaped like the hub's own log lines to the kernel's fd 1 and fd 2."""
    line = f"[I 2026-01-01 00:00:00.000 JupyterHub app:1] {marker}"
    kernel.execute(f"import os\nos.write(1, b'{line}-kernel-out\\n')\nos.write(2, b'{line}-kernel-err\\n')\n")


def wait_for(path: Path, text: str, count: int, timeout: float = 10) -> None:
    """The hub copies a server's output into its log in a thread of its own: give it a moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.1)


@pytest.mark.parametrize("fast", [True, False], ids=["forked", "fresh"])
def test_a_users_output_goes_to_their_own_log_only(campus, hub_factory, fast):
    campus.update(**{"compute.local.fast_spawn": fast})
    hub = hub_factory()
    marker = f"FORGED-{secrets.token_hex(6)}"
    alice = running_student(campus, hub, "alice")
    forge(alice.kernel(), marker)
    logs = campus.directory / "data" / "logs"
    user_log = logs / "users" / "alice.log"
    wait_for(user_log, marker, 2)
    hub.stop()

    hub_log = (logs / "campushub.log").read_text(errors="replace")
    assert marker not in hub_log, [line for line in hub_log.splitlines() if marker in line]
    assert marker not in hub.output()
    assert "is ready at" in hub.output()  # the hub's own output still arrives

    shown = campus.cli("logs", "alice", "--lines", "1000")
    assert shown.returncode == 0, shown.stderr
    for suffix in ("kernel-out", "kernel-err"):
        assert f"{marker}-{suffix}" in shown.stdout, shown.stdout
    assert "jupyterhub-singleuser" in shown.stdout or "Jupyter Server" in shown.stdout  # the server's start-up
    info, directory = user_log.stat(), user_log.parent.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600)
    assert (directory.st_uid, stat.S_IMODE(directory.st_mode)) == (0, 0o700)


def test_logs_command_says_when_there_is_nothing(campus, hub):
    running_student(campus, hub, "alice").stop_server()
    campus.add_user("bob", "a-long-password-1")
    unknown = campus.cli("logs", "nobody")
    assert unknown.returncode == 2 and "no user 'nobody'" in unknown.stderr and "Traceback" not in unknown.stderr
    bob = campus.cli("logs", "bob")
    assert bob.returncode == 2, bob.stderr
    assert "no user 'bob'" in bob.stderr or "'bob' has no server log yet" in bob.stderr
    two = campus.cli("logs", "alice", "--lines", "2")
    assert two.returncode == 0, two.stderr
    assert len(two.stdout.splitlines()) == 2
