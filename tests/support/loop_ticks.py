"""How often the running event loop got to run other work while a block was awaited: a call that
blocks inside the loop leaves the count where it was."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator, List

TICK_SECONDS = 0.01


@asynccontextmanager
async def loop_ticks() -> AsyncIterator[List[int]]:
    """Yields a one-element list holding the number of 10 ms ticks so far."""
    count = [0]

    async def tick() -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            count[0] += 1

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)  # let the ticker start
    try:
        yield count
    finally:
        ticker.cancel()
