"""The idle culler stops idle servers and never an active one."""

from __future__ import annotations

import time

import pytest

from tests.helpers.hubclient import Student

pytestmark = pytest.mark.integration

PASSWORD = "a-long-password-1"
IDLE_TIMEOUT = 30


def test_culler_stops_the_idle_server_and_spares_the_active_one(campus, hub_factory):
    campus.update(**{"compute.idle_timeout": IDLE_TIMEOUT})
    hub = hub_factory()
    students = {}
    for name in ("idler", "worker"):
        campus.add_user(name, PASSWORD)
        students[name] = Student(hub.url, name)
        students[name].sign_in(PASSWORD)
        students[name].wait_for_server()
    kernel = students["worker"].kernel()

    # The worker runs a cell every few seconds, for well over twice the timeout.
    deadline = time.monotonic() + 2.2 * IDLE_TIMEOUT
    idler_culled_after = None
    start = time.monotonic()
    while time.monotonic() < deadline:
        assert kernel.execute("1+1") == "2"
        if idler_culled_after is None and students["idler"].server() is None:
            idler_culled_after = time.monotonic() - start
        time.sleep(3)
    kernel.close()

    assert idler_culled_after is not None, "the idle server was never culled"
    assert students["worker"].server() is not None, "the active server was culled"
    assert "Culling server idler" in hub.output() or "culling server idler" in hub.output().lower()
