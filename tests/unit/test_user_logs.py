"""Users' own logs: capped and rotated, secrets masked line by line, the tail read back."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from campushub.compute.user_logs import CappedLog, LineMasker, Pace, log_path, open_user_output, tail


def test_a_log_is_private_and_rotated_once_when_full(tmp_path: Path) -> None:
    log = CappedLog(tmp_path / "alice.log", max_bytes=100)
    for number in range(12):
        log.write(f"line {number:02d} {'x' * 20}\n".encode())  # 29 bytes each
    log.close()
    current, previous = tmp_path / "alice.log", tmp_path / "alice.log.1"
    assert stat.S_IMODE(current.stat().st_mode) == 0o600
    assert current.stat().st_size <= 100 and previous.stat().st_size <= 100
    assert current.read_text().startswith("line 09") and previous.read_text().startswith("line 06")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["alice.log", "alice.log.1"]  # never a .2


def test_a_log_continues_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "alice.log").write_bytes(b"a" * 90)
    log = CappedLog(tmp_path / "alice.log", max_bytes=100)
    log.write(b"b" * 20)
    log.close()
    assert (tmp_path / "alice.log.1").read_bytes() == b"a" * 90
    assert (tmp_path / "alice.log").read_bytes() == b"b" * 20


def test_secrets_are_masked_even_when_split_across_reads() -> None:
    masker = LineMasker()
    out = masker.feed(b"GET /api?tok") + masker.feed(b"en=abc123 200\nnext ") + masker.flush()
    assert out == b"GET /api?token=[hidden] 200\nnext "


def test_an_endless_line_is_not_held_forever() -> None:
    masker = LineMasker(limit=10)
    assert masker.feed(b"x" * 11) == b"x" * 11


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", ".hidden", "", "Alice"])
def test_a_log_name_cannot_leave_the_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        log_path(tmp_path, name)


def test_the_pipe_reaches_the_file_and_the_directory_is_private(tmp_path: Path) -> None:
    directory = tmp_path / "users"
    write_end = open_user_output(directory, "jane.doe", max_bytes=1 << 20)
    os.write(write_end, b"hello from the server\n")
    os.close(write_end)  # the last writer gone: the hub's thread finishes the file and closes the pipe
    path = directory / "jane.doe.log"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (path.exists() and path.read_text()):
        time.sleep(0.02)
    assert path.read_text() == "hello from the server\n"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    while time.monotonic() < deadline and any(thread.name == "log-jane.doe" for thread in threading.enumerate()):
        time.sleep(0.02)
    assert not any(thread.name == "log-jane.doe" for thread in threading.enumerate())  # no thread left behind


def test_tail_reaches_into_the_previous_file(tmp_path: Path) -> None:
    (tmp_path / "alice.log.1").write_text("one\ntwo\n")
    (tmp_path / "alice.log").write_text("three\n")
    assert tail(tmp_path, "alice", 2) == ["two", "three"]
    assert tail(tmp_path, "alice", 10) == ["one", "two", "three"]
    assert tail(tmp_path, "bob", 10) is None


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_flood_is_paced_and_a_trickle_is_not() -> None:
    time_ = FakeTime()
    pace = Pace(1000, time_.clock, time_.sleep)
    pace.after(500)
    assert time_.slept == []  # within the first second's allowance
    for _ in range(10):
        pace.after(1000)
    assert sum(time_.slept) == pytest.approx(9.5, abs=0.01)  # 10.5 s of output at the rate, 1 s of it burst
    time_.now += 60  # quiet for a minute
    time_.slept.clear()
    pace.after(1000)
    assert time_.slept == []
    pace.after(1000)
    assert sum(time_.slept) == pytest.approx(1.0, abs=0.01)  # the minute bought one second of burst, no more
