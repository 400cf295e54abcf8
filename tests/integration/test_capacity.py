"""Capacity: `compute.max_servers` and admission by free memory turn a student away with a clear message and a
retry, never a spinner that times out."""

from __future__ import annotations

import json

import pytest

from tests.helpers.hubclient import Student
from tests.helpers.sign_in import PASSWORD, running_student

pytestmark = pytest.mark.integration


def test_over_max_servers_a_student_is_told_the_site_is_full_and_gets_in_once_a_place_is_free(campus, hub_factory):
    campus.update(**{"compute.max_servers": 1})
    hub = hub_factory()
    alice = running_student(campus, hub, "alice")
    campus.add_user("bob", PASSWORD)
    bob = Student(hub.url, "bob")
    bob.sign_in(PASSWORD)

    page = bob.session.get(f"{hub.url}/hub/spawn")
    assert page.status_code == 429, page.status_code
    assert "as many notebook servers as it may at once" in page.text
    assert 'id="campushub-retry"' in page.text and "tries again by itself" in page.text
    assert bob.server() is None

    alice.stop_server()
    retry = bob.session.get(f"{hub.url}/hub/spawn")
    assert retry.status_code == 200, retry.status_code
    bob.wait_for_server()


def progress_events(student: Student) -> list[dict]:
    """The progress events the spawn-pending page shows, until the start ends one way or the other."""
    events = []
    with student.session.get(
        f"{student.base_url}/hub/api/users/{student.name}/server/progress",
        headers={"X-XSRFToken": student._xsrf()},
        stream=True,
        timeout=60,
    ) as response:
        for line in response.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("failed") or events[-1].get("ready"):
                    break
    return events


def test_a_start_on_a_machine_short_of_memory_is_turned_away_with_a_message_and_can_be_retried(campus, hub_factory):
    campus.update(**{"compute.min_free_memory": "100T"})
    hub = hub_factory()
    campus.add_user("alice", PASSWORD)
    alice = Student(hub.url, "alice")
    alice.sign_in(PASSWORD)
    events = progress_events(alice)
    assert events and events[-1].get("failed"), events
    assert "short of memory" in events[-1]["message"] and "try again" in events[-1]["message"], events[-1]
    assert alice.server() is None
    assert "Turned away alice's start" in hub.output()

    response = alice.hub_api("POST", "/users/alice/server")  # the retry itself is refused the same way, cleanly
    assert response.status_code in (202, 201, 503), response.text
