"""First come, first served starts: at most N servers getting ready at once, the rest wait in line.

Fifty students signing in together on a two-core machine all start at once otherwise, and every
one of them waits for all of them. In line, the first ones are working while the others wait,
and the sign-in page can say where each one stands (JupyterHub's spawn progress events).
"""

from __future__ import annotations

import asyncio


class StartQueue:
    """Slots for servers that are starting; a start holds its slot until its server answers."""

    def __init__(self) -> None:
        self.waiting: list[object] = []
        self.active = 0
        self._changed: asyncio.Condition | None = None

    @property
    def changed(self) -> asyncio.Condition:
        if self._changed is None:  # made on first use, inside the hub's event loop
            self._changed = asyncio.Condition()
        return self._changed

    def position(self, key: object) -> int | None:
        """How many starts are ahead of `key` (0: next), or None when it is not waiting."""
        try:
            return self.waiting.index(key)
        except ValueError:
            return None

    async def acquire(self, key: object, slots: int) -> None:
        self.waiting.append(key)
        try:
            async with self.changed:
                await self.changed.wait_for(lambda: self.active < slots and self.waiting[0] is key)
                self.waiting.pop(0)
                self.active += 1
                self.changed.notify_all()
        except BaseException:
            if key in self.waiting:  # given up while in line (cancelled, timed out)
                self.waiting.remove(key)
                async with self.changed:
                    self.changed.notify_all()
            raise

    async def release(self) -> None:
        async with self.changed:
            self.active -= 1
            self.changed.notify_all()
