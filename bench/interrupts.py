"""Ctrl-C and SIGTERM in a benchmark: the run ends early, but only once what it started is cleaned up."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the run ends early, after cleaning up, with exit status 1."""


class Signals:
    """Ctrl-C / SIGTERM end the run by raising in the main thread, but never while it is cleaning up."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.cleaning = False
        self.received: str | None = None

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()
        self.received = signal.Signals(signum).name
        if self.cleaning:
            print(f"{self.received}: still stopping hubs and removing accounts, one moment.", flush=True)
            return
        raise Interrupted(self.received)

    def done_cleaning(self) -> None:
        """A signal that arrived while cleaning up still ends the run, now that it is safe to."""
        self.cleaning = False
        if self.received:
            raise Interrupted(self.received)
