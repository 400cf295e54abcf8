"""The hub's side of a fork request (`ask_forkserver`), against a real Unix socket.

A fork server's child can read the request, answer and close its end before the hub's thread runs again.
That is a fork that worked: taking it for a failure starts a second server for the same student, and the
first runs on unreachable (seen when a hub was under load during a burst of sign-ins).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from campushub.compute import local
from campushub.compute.forkserver import receive_request
from campushub.compute.local import ForkUnavailable, ask_forkserver


def serve_once(path: Path, answer: bytes, served: threading.Event) -> threading.Thread:
    """A one-request stand-in for the fork server's child: read the whole request, answer, close."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            _request, output = receive_request(conn)
            if output is not None:
                os.close(output)
            conn.sendall(answer)
        listener.close()
        served.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def child_answers_before_the_hub_goes_on(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The hub's thread stops right after sending, until the child has answered and closed: the order seen."""
    served = threading.Event()
    real_send_fds = socket.send_fds

    def send_then_wait(sock, buffers, fds, *args):
        sent = real_send_fds(sock, buffers, fds, *args)
        assert served.wait(10), "the stand-in child never answered"
        return sent

    monkeypatch.setattr(local.socket, "send_fds", send_then_wait)
    return served


def test_a_child_that_answers_and_closes_at_once_is_a_fork_that_worked(
    tmp_path: Path, child_answers_before_the_hub_goes_on: threading.Event
) -> None:
    path = tmp_path / "fork.sock"
    serve_once(path, json.dumps({"pid": 4242}).encode() + b"\n", child_answers_before_the_hub_goes_on)
    with open(os.devnull, "wb") as output:
        reply = ask_forkserver(str(path), {"argv": ["jupyterhub-singleuser"]}, output.fileno())
    assert reply == {"pid": 4242}


def test_an_error_from_the_child_is_reported_as_the_reason(
    tmp_path: Path, child_answers_before_the_hub_goes_on: threading.Event
) -> None:
    path = tmp_path / "fork.sock"
    answer = json.dumps({"error": "PermissionError: uid 0 is root"}).encode() + b"\n"
    serve_once(path, answer, child_answers_before_the_hub_goes_on)
    with open(os.devnull, "wb") as output, pytest.raises(ForkUnavailable, match="uid 0 is root"):
        ask_forkserver(str(path), {"argv": ["jupyterhub-singleuser"]}, output.fileno())


def test_no_fork_server_listening_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    with open(os.devnull, "wb") as output, pytest.raises(ForkUnavailable, match="fork server at"):
        ask_forkserver(str(tmp_path / "absent.sock"), {"argv": []}, output.fileno())
