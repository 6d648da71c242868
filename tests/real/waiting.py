"""Waiting on a real cluster: a condition polled until it holds, or the test fails saying so."""

import asyncio
import time


async def until(check, timeout: float = 60, every: float = 0.3):
    """The first truthy result of `check()`, polled every `every` seconds for `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if result := await check():
            return result
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(every)
