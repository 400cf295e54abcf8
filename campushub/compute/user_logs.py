"""Each user's server output in a log of its own: data_dir/logs/users/<name>.log.

A server's stdout and stderr (and its kernels', which inherit them) are user-controlled text. In the
hub's log they could forge hub lines, so they never go there: every server gets a pipe of its own
whose read end stays in the hub, and a thread copies what arrives into the user's file. The file is
root's (0600, in a 0700 directory) and capped: past `max_bytes` it becomes `<name>.log.1` (replacing
the previous one) and a new file starts, so a user can fill at most two files. Only the hub holds the
file, so the cap cannot be bypassed; what a server writes while no hub reads (the hub was killed and
the server outlived it) is lost, never written elsewhere. The copying runs in the hub's process, so
it is paced (`DEFAULT_RATE`): a server that floods its output waits on its own full pipe instead of
taking the hub's CPU.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from campushub.runtime import mask_secrets

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_RATE = 1024 * 1024  # bytes a second per server: far above what a server logs, far below a flood
CHUNK = 65536
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def log_path(directory: Path, name: str) -> Path:
    """The log of `name` (a campus username; refused if it could leave the directory)."""
    if not _SAFE_NAME.match(name) or ".." in name:
        raise ValueError(f"not a campus username: {name!r}")
    return directory / f"{name}.log"


def private_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)


class CappedLog:
    """An append-only file of at most `max_bytes`, rotated once to `.1`; safe to share between threads."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            os.fchmod(self._fd, 0o600)
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def _rotate(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            fd = self._open()
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
                fd = self._open()
            data = data[: self.max_bytes]
            os.write(fd, data)
            self._size += len(data)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class LineMasker:
    """Masks secrets line by line (as the hub log does) in a stream that arrives in arbitrary chunks."""

    def __init__(self, limit: int = CHUNK) -> None:
        self._pending = b""
        self._limit = limit

    def feed(self, chunk: bytes) -> bytes:
        data = self._pending + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > self._limit:
            cut = len(data)  # one endless line: pass it on rather than hold it
        self._pending = data[cut:]
        return _mask(data[:cut])

    def flush(self) -> bytes:
        data, self._pending = self._pending, b""
        return _mask(data)


def _mask(data: bytes) -> bytes:
    if not data:
        return data
    text = data.decode("utf-8", errors="surrogateescape")
    return "".join(mask_secrets(line) for line in text.splitlines(keepends=True)).encode(
        "utf-8", errors="surrogateescape"
    )


class Pace:
    """Keeps a stream at `rate` bytes a second on average, with at most a second's worth in one burst."""

    def __init__(
        self,
        rate: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._sent = 0

    def after(self, size: int) -> None:
        """Call after passing on `size` bytes: waits while the stream is ahead of its rate."""
        now = self._clock()
        if now - self._start > self._sent / self.rate:  # behind the rate (quiet a while): no credit saved up
            self._start, self._sent = now, 0
        self._sent += size
        ahead = self._sent / self.rate - (now - self._start) - 1  # a second's worth may come at once
        if ahead > 0:
            self._sleep(ahead)


_logs: dict[Path, CappedLog] = {}
_logs_lock = threading.Lock()


def capped_log(path: Path, max_bytes: int) -> CappedLog:
    """One CappedLog per file in this process: a new server and the last one's kernels may write at once."""
    with _logs_lock:
        log = _logs.get(path)
        if log is None:
            log = _logs[path] = CappedLog(path, max_bytes)
        log.max_bytes = max_bytes
        return log


def pump(read_end: int, log: CappedLog, rate: int = DEFAULT_RATE) -> None:
    """Copy a server's output into its log until every writer (server, kernels) has closed the pipe."""
    masker = LineMasker()
    pace = Pace(rate)
    try:
        while chunk := os.read(read_end, CHUNK):
            log.write(masker.feed(chunk))
            pace.after(len(chunk))
        log.write(masker.flush())
    except OSError:
        pass  # the log cannot be written (disk full, removed directory): the pipe is closed, output dropped
    finally:
        os.close(read_end)


def open_user_output(directory: Path, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> int:
    """A pipe whose read end a hub thread copies into `name`'s log; returns the write end for the server.

    The caller hands the write end to the server and then closes its own copy.
    """
    private_directory(directory)
    log = capped_log(log_path(directory, name), max_bytes)
    read_end, write_end = os.pipe()  # both close-on-exec: only the server gets the write end, by dup2
    threading.Thread(target=pump, args=(read_end, log), name=f"log-{name}", daemon=True).start()
    return write_end


def tail(directory: Path, name: str, lines: int) -> list[str] | None:
    """The last `lines` lines of `name`'s log (reaching into `.log.1` when needed); None if there is none."""
    current = log_path(directory, name)
    files = [path for path in (current.with_name(current.name + ".1"), current) if path.exists()]
    if not files:
        return None
    last: deque[str] = deque(maxlen=max(lines, 0))
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as log:
            last.extend(line.rstrip("\n") for line in log)
    return list(last)
