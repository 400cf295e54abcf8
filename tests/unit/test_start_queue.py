"""The start queue: first come, first served, never more than its slots, nobody stuck behind a quitter."""

from __future__ import annotations

import asyncio

import pytest

from campushub.compute.start_queue import StartQueue
from tests.helpers.eventloop import run_alone


def run(scenario):
    return run_alone(scenario())


def test_first_come_first_served_within_the_slots() -> None:
    async def scenario() -> list[str]:
        queue, order, peak = StartQueue(), [], [0]

        async def start(name: str) -> None:
            await queue.acquire(name, slots=2)
            order.append(name)
            peak[0] = max(peak[0], queue.active)
            await asyncio.sleep(0.01)
            await queue.release()

        tasks = []
        for name in "abcde":
            tasks.append(asyncio.create_task(start(name)))
            await asyncio.sleep(0)  # arrive in this order
        await asyncio.gather(*tasks)
        assert peak[0] == 2
        return order

    assert run(scenario) == list("abcde")


def test_positions_and_a_start_given_up_in_line() -> None:
    async def scenario() -> None:
        queue = StartQueue()
        await queue.acquire("a", slots=1)
        b = asyncio.create_task(queue.acquire("b", slots=1))
        c = asyncio.create_task(queue.acquire("c", slots=1))
        await asyncio.sleep(0)
        assert (queue.position("a"), queue.position("b"), queue.position("c")) == (None, 0, 1)
        b.cancel()
        with pytest.raises(asyncio.CancelledError):
            await b
        assert queue.position("c") == 0
        await queue.release()
        await asyncio.wait_for(c, 1)
        assert queue.active == 1 and queue.waiting == []

    run(scenario)
