"""Driving a Temporal Schedule from outside, as the schedule tests and bench/schedules.py do: backfill
one scheduled time instead of waiting for it, and wait for the run it starts to end."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from legato.workflows.scheduled_operation import ScheduledOutcome


def run_workflow_id(schedule_id: str, at: datetime) -> str:
    """The id Temporal gives the run a schedule starts for the time `at`."""
    return f"{schedule_id}-{at:%Y-%m-%dT%H:%M:%SZ}"


async def _run_id(client: Client, workflow_id: str) -> str | None:
    try:
        return (await client.get_workflow_handle(workflow_id).describe()).run_id
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def finished(client: Client, workflow_id: str, other_than: str | None = None,
                   timeout: float = 90) -> ScheduledOutcome:
    """The outcome of the latest run of `workflow_id` (not `other_than`) once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_id = await _run_id(client, workflow_id)
        if run_id is not None and run_id != other_than:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id, result_type=ScheduledOutcome)
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                return await handle.result()
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the run {workflow_id} never ended")


async def start_backfill(client: Client, schedule_id: str, at: datetime) -> tuple[str, str | None]:
    """Backfill one scheduled time: the run's workflow id, and the run id it had before (a second
    backfill of the same time starts a new run of the same workflow id, overlap ALLOW_ALL)."""
    workflow_id = run_workflow_id(schedule_id, at)
    before = await _run_id(client, workflow_id)
    await client.get_schedule_handle(schedule_id).backfill(
        ScheduleBackfill(start_at=at, end_at=at + timedelta(seconds=1), overlap=ScheduleOverlapPolicy.ALLOW_ALL))
    return workflow_id, before


async def backfill(client: Client, schedule_id: str, at: datetime, timeout: float = 90) -> ScheduledOutcome:
    """Backfill one scheduled time and wait for the run it starts to end; its outcome."""
    workflow_id, before = await start_backfill(client, schedule_id, at)
    return await finished(client, workflow_id, other_than=before, timeout=timeout)
