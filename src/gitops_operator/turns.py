"""Turns at a bounded number of slots, first come first served, with a lane that goes
first: the passes that only finish a health wait (a watch saw the rollout settle) are
cheap, and each one ends a wait; behind thousands of first syncs they would hold every
Application in its wait (and its memory) until the last sync is done."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Turns:
    """Like ``asyncio.Semaphore(slots)`` (FIFO), but a waiter that asks ``first`` goes
    before every waiter that did not."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._first: deque[asyncio.Future[None]] = deque()
        self._rest: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def turn(self, *, first: bool = False) -> AsyncIterator[None]:
        await self._acquire(first)
        try:
            yield
        finally:
            self._release()

    def waiting(self) -> tuple[int, int]:
        """How many wait in the first lane and in the other."""
        return len(self._first), len(self._rest)

    async def _acquire(self, first: bool) -> None:
        if self._free > 0 and not self._first and not self._rest:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._first if first else self._rest
        lane.append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release()  # the slot came with the cancellation: pass it on
            elif granted in lane:
                lane.remove(granted)
            raise

    def _release(self) -> None:
        for lane in (self._first, self._rest):
            while lane:
                granted = lane.popleft()
                if not granted.done():
                    granted.set_result(None)
                    return
        self._free += 1
