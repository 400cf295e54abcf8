"""The start line as a spawner mixin: its setting reaches the spawner, a failed launch gives its place back,
and progress says where a start stands."""

from __future__ import annotations

import asyncio
import os

import pytest
from jupyterhub.spawner import Spawner
from traitlets.config import Config

from campushub.compute.local import CampusLocalSpawner
from campushub.compute.start_queue import StartQueue
from campushub.compute.startline import StartLineMixin, host_and_port
from tests.helpers.eventloop import run_alone


class ToySpawner(StartLineMixin, Spawner):
    """A spawner that only uses the line; each test gives it a line of its own (one event loop per test)."""

    async def start(self) -> tuple[str, int]:
        return await self.start_in_line(self.launch)

    async def launch(self) -> tuple[str, int]:
        raise RuntimeError("no server")

    async def stop(self, now: bool = False) -> None:
        pass

    async def poll(self) -> int | None:
        return 0


def test_parallel_starts_reaches_the_spawner_from_its_config() -> None:
    config = Config()
    config.CampusLocalSpawner.parallel_starts = 3
    assert CampusLocalSpawner(config=config).start_slots == 3
    assert CampusLocalSpawner().start_slots == (os.cpu_count() or 1)


def test_a_failed_launch_gives_its_place_back() -> None:
    async def scenario() -> int:
        ToySpawner.start_line = StartQueue()
        spawner = ToySpawner(config=Config({"ToySpawner": {"parallel_starts": 1}}))
        with pytest.raises(RuntimeError, match="no server"):
            await spawner.start()
        return spawner.start_line.active

    assert run_alone(scenario()) == 0


def test_progress_says_the_place_in_line_then_the_start() -> None:
    async def scenario() -> list[str]:
        ToySpawner.start_line = StartQueue()
        first, second = ToySpawner(parallel_starts=1), ToySpawner(parallel_starts=1)
        await first.wait_for_turn()
        waiting = asyncio.create_task(second.wait_for_turn())
        messages = []
        async for event in second.progress():
            messages.append(event["message"])
            if len(messages) == 1:
                await first.start_line.release()  # the first one's server answers
        await waiting
        return messages

    assert run_alone(scenario()) == ["Yours is next...", "Starting your server..."]


@pytest.mark.parametrize(
    ("address", "expected"),
    [(("10.0.0.5", 8888), ("10.0.0.5", 8888)), ("http://10.0.0.5:9000/", ("10.0.0.5", 9000))],
)
def test_a_spawner_may_answer_with_ip_and_port_or_a_url(address, expected) -> None:
    assert host_and_port(address) == expected
