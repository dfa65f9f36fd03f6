"""Turns at the reconcile slots: FIFO, with a lane that goes first."""

from __future__ import annotations

import asyncio

from gitops_operator.turns import Turns


async def _order(turns: Turns, asks: list[tuple[str, bool]]) -> list[str]:
    """Who gets a turn in what order, when all ask while the one slot is held."""
    served: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with turns.turn():
            await release.wait()

    async def ask(name: str, first: bool) -> None:
        async with turns.turn(first=first):
            served.append(name)
            await asyncio.sleep(0)

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    tasks = []
    for name, first in asks:
        tasks.append(asyncio.create_task(ask(name, first)))
        await asyncio.sleep(0)
    release.set()
    await asyncio.gather(held, *tasks)
    return served


def test_waiters_are_served_in_order_and_the_first_lane_before_the_rest():
    asks = [("sync-1", False), ("sync-2", False), ("health-1", True), ("sync-3", False)]
    assert asyncio.run(_order(Turns(1), asks)) == ["health-1", "sync-1", "sync-2", "sync-3"]


def test_no_more_hold_a_turn_than_there_are_slots():
    async def main() -> int:
        turns, inside, most = Turns(3), 0, 0

        async def one(first: bool) -> None:
            nonlocal inside, most
            async with turns.turn(first=first):
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.001)
                inside -= 1

        await asyncio.gather(*(one(i % 4 == 0) for i in range(40)))
        return most

    assert asyncio.run(main()) == 3


def test_a_waiter_cancelled_gives_its_place_and_a_granted_slot_back():
    async def main() -> list[str]:
        turns, served = Turns(1), []

        async def ask(name: str) -> None:
            async with turns.turn():
                served.append(name)

        async with turns.turn():
            gone = asyncio.create_task(ask("cancelled"))
            kept = asyncio.create_task(ask("kept"))
            await asyncio.sleep(0)
            gone.cancel()
        await asyncio.gather(kept, return_exceptions=True)
        # granted and cancelled before it ran: the slot goes to the next one
        async with turns.turn():
            late = asyncio.create_task(ask("late"))
            after = asyncio.create_task(ask("after"))
            await asyncio.sleep(0)
        late.cancel()
        await asyncio.gather(late, after, return_exceptions=True)
        assert turns.waiting() == (0, 0)
        async with turns.turn():  # the slot was given back: this does not hang
            served.append("again")
        return served

    assert asyncio.run(asyncio.wait_for(main(), 5)) == ["kept", "after", "again"]
