"""Low-latency kernels: the kernel websocket in the user's server has Nagle's algorithm off."""

from __future__ import annotations

import pytest

from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.procfs import accepted_connections, server_pid
from tests.helpers.sign_in import running_student

pytestmark = pytest.mark.integration


def test_the_kernel_websocket_sends_without_delay(campus, hub):
    alice = running_student(campus, hub, "alice")
    pid = server_pid(f"{TEST_USER_PREFIX}alice")
    before = {(c.local_port, c.peer_port) for c in accepted_connections(pid) if c.nodelay}
    kernel = alice.kernel()
    assert kernel.execute("print(1+1)").strip() == "2"  # the websocket is open and in use
    opened = [c for c in accepted_connections(pid) if c.nodelay and (c.local_port, c.peer_port) not in before]
    assert opened, f"no connection to the server has TCP_NODELAY: {accepted_connections(pid)}"
    kernel.close()
