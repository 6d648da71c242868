"""The baseline of bench/orchestration.py: batches of parallel no-op activities, nothing else.
Its own module: the workflow sandbox re-imports it, so it must have no side effects."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench.noop")
async def noop(_: int) -> None:
    return None


@workflow.defn(name="BareDeploy")
class BareDeploy:
    @workflow.run
    async def run(self, batches: list[int]) -> int:
        done = 0
        for size in batches:
            await asyncio.gather(*(workflow.execute_activity(
                "bench.noop", i, start_to_close_timeout=timedelta(seconds=30)) for i in range(size)))
            done += size
        return done
