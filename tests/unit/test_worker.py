"""The worker process stops when told to, even when its Temporal server has gone away."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from legato.worker import stop_worker


class Worker:
    """Stands for the SDK worker: its shutdown ends after `takes` seconds (None: never)."""

    def __init__(self, takes: float | None):
        self.takes = takes
        self.asked = 0

    async def shutdown(self) -> None:
        self.asked += 1
        await asyncio.sleep(3600 if self.takes is None else self.takes)


def test_a_worker_that_stops_in_time_is_waited_for():
    worker = Worker(takes=0.05)
    assert asyncio.run(stop_worker(worker, timedelta(seconds=5))) is True
    assert worker.asked == 1


def test_a_worker_whose_pollers_never_end_is_given_up_on_at_the_bound(caplog):
    worker = Worker(takes=None)
    started = time.monotonic()
    assert asyncio.run(stop_worker(worker, timedelta(seconds=0.2))) is False
    assert time.monotonic() - started < 5
    assert "is the Temporal server reachable?" in caplog.text
