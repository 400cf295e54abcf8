"""The start line as a mixin any spawner can use: a place in line, the launch, and the place given back.

A start holds its place from the launch until its server answers, because importing and starting
Jupyter is the CPU-heavy part, not the fork or exec. While a start waits, its progress events say
how many are ahead, which the spawn-pending page shows the student. The line itself (start_queue.py)
is one per hub process, shared by every spawner that uses the mixin.

A spawner uses it by launching through `start_in_line`:

    class MySpawner(StartLineMixin, Spawner):
        async def start(self):
            return await self.start_in_line(super().start)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from jupyterhub.utils import can_connect
from traitlets import HasTraits, Integer

from campushub.compute.start_queue import StartQueue

Address = tuple[str, int] | str  # what Spawner.start returns: (ip, port), or a URL


class StartLineMixin(HasTraits):
    """Servers start first come, first served, at most `parallel_starts` getting ready at once.

    A HasTraits itself, so that `parallel_starts` is a trait of its own that every spawner using it has.
    """

    parallel_starts = Integer(0, help="Servers getting ready at once; others wait in line. 0: one per CPU.").tag(
        config=True
    )

    start_line: ClassVar[StartQueue] = StartQueue()  # one line for the whole hub, whatever the spawner class
    _launched = False  # whether this spawn has left the start line (progress waits for it)

    # Provided by the Spawner this is mixed into (annotations only: nothing here may shadow the spawner's own).
    start_timeout: float
    poll: Callable[[], Awaitable[int | None]]

    def run_pre_spawn_hook(self) -> Any:
        self._launched = False  # a new spawn: progress must wait for its place in line
        return super().run_pre_spawn_hook()  # type: ignore[misc]

    @property
    def start_slots(self) -> int:
        return self.parallel_starts or os.cpu_count() or 1

    async def start_in_line(self, launch: Callable[[], Awaitable[Address]]) -> Address:
        """Wait for a place, launch, and keep the place until the server answers (in the background)."""
        await self.wait_for_turn()
        try:
            address = await launch()
        except BaseException:
            await self.start_line.release()
            raise
        self._slot_release = asyncio.create_task(self.release_when_answering(address))
        return address

    async def wait_for_turn(self) -> None:
        """Until this start is first in line and a slot is free; progress then moves on past the line."""
        try:
            await self.start_line.acquire(self, self.start_slots)
        finally:
            self._launched = True  # in its slot, or given up: either way no longer in line

    async def release_when_answering(self, address: Address) -> None:
        """The slot is held while the server imports and starts (the CPU-heavy part), not just while launching."""
        ip, port = host_and_port(address)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(self.start_timeout)
        try:
            while loop.time() < deadline:
                if can_connect(ip, port) or await self.poll() is not None:
                    break  # up, or gone: either way it no longer needs the slot
                await asyncio.sleep(0.05)
        finally:
            await self.start_line.release()

    async def progress(self):
        """Where the student stands while waiting: their place in line, then the start itself."""
        said = None
        while not self._launched:  # preparing (an account, say), then in line
            ahead = self.start_line.position(self)
            if ahead is not None and ahead != said:  # a new line on the page only when the place changes
                if ahead:
                    yield {"progress": 10, "message": f"Many servers are starting: {ahead} ahead of yours..."}
                else:
                    yield {"progress": 20, "message": "Yours is next..."}
                said = ahead
            await asyncio.sleep(0.1)
        yield {"progress": 50, "message": "Starting your server..."}


def host_and_port(address: Address) -> tuple[str, int]:
    """(ip, port) as most spawners return it, or the host and port of the URL others return."""
    if isinstance(address, tuple):
        return address
    parts = urlsplit(address)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)
