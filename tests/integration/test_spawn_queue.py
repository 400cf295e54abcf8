"""Starts wait in line when many students sign in at once, and their progress says where they stand."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers.hubclient import Student

pytestmark = pytest.mark.integration

PASSWORD = "a-long-password-1"
NAMES = ["qa", "qb", "qc", "qd"]


def progress_messages(student: Student) -> list[str]:
    """The spawn progress events JupyterHub streams to the spawn-pending page, until the server is ready."""
    messages = []
    url = f"{student.base_url}/hub/api/users/{student.name}/server/progress"
    with student.session.get(url, headers={"X-XSRFToken": student._xsrf()}, stream=True, timeout=120) as response:
        if response.status_code == 400:  # "not starting" yet
            return []
        assert response.status_code == 200, response.text
        for line in response.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[5:])
                messages.append(event.get("message", ""))
                if event.get("ready") or event.get("failed"):
                    break
    return messages


def signed_in(hub, name: str) -> Student:
    student = Student(hub.url, name)
    student.session.get(f"{hub.url}/hub/login")
    form = {"username": name, "password": PASSWORD, "_xsrf": student._xsrf()}
    assert student.session.post(f"{hub.url}/hub/login", data=form, allow_redirects=False).status_code == 302
    return student


def start_and_watch(student: Student, go: threading.Barrier) -> list[str]:
    """Ask for the server (all students at the same moment) and read the progress stream beside it, as the
    spawn-pending page's script does."""
    with ThreadPoolExecutor(1) as pool:
        go.wait()
        start = pool.submit(student.hub_api, "POST", f"/users/{student.name}/server")
        deadline = time.monotonic() + 10
        while True:  # until the hub has the start under way
            messages = progress_messages(student)
            if messages or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert start.result().status_code in (201, 202)
    return messages


def test_students_wait_in_line_and_see_their_place(campus, hub_factory):
    campus.update(**{"compute.local.parallel_starts": 1})
    for name in NAMES:
        campus.add_user(name, PASSWORD)
    hub = hub_factory()
    students = [signed_in(hub, name) for name in NAMES]  # sign-ins one by one; the starts all at once
    go = threading.Barrier(len(students))
    with ThreadPoolExecutor(len(students)) as pool:
        seen = list(pool.map(lambda student: start_and_watch(student, go), students))
    everything = [message for messages in seen for message in messages]
    assert any("ahead of yours" in message or "Yours is next" in message for message in everything), seen
    assert all(any("ready" in message.lower() for message in messages) for messages in seen), seen
