"""ScheduledOperation, one run of a service's schedule, its activities replaced by doubles: the
request id it sends derives from the schedule and the run's time; a busy service is retried, then
the run is recorded as skipped; a gone service's schedule is removed; a run no worker took up
within its catch-up window is skipped rather than applied late."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from legato.activities.inventory import InventoryActivities
from legato.activities.scheduled_runs import RunOutcome, ScheduledRunActivities
from legato.activities.schedules import ScheduleActivities
from legato.model.names import run_request_id
from legato.model.operations import Operation, OperationRecord, ScaleRequest
from legato.model.schedules import ScheduledRun
from legato.workflows.scheduled_operation import ScheduledOperation, ScheduledOutcome
from tests.unit.workflows.doubles import Doubles, answer, unique, worker

SCHEDULE = "alpha:shop-1:night"


def night(**choices) -> ScheduledRun:
    return ScheduledRun(schedule_id=SCHEDULE, service_id="shop-1", tenant="alpha", name="night",
                        operation=Operation(kind="scale", component="api", scale=ScaleRequest(replicas=1)), **choices)


def succeeded(call) -> RunOutcome:
    op = call.operation
    return RunOutcome(state="succeeded", detail="api: 2 → 1 replicas", record=OperationRecord(
        request_id=op.request.request_id, kind=op.kind, component=op.component, state="succeeded"))


def busy_then(times: int, then):
    left = [times]

    def behave(call):
        if left[0] > 0:
            left[0] -= 1
            return RunOutcome(state="busy", detail="operation u1 (upgrade) is running")
        return then(call)

    return behave


async def run(client: Client, doubles: Doubles, scheduled: ScheduledRun) -> tuple[ScheduledOutcome, str]:
    """The run's outcome, and the request id it should have derived from its start."""
    async with worker(client, doubles, ScheduledOperation) as tq:
        handle = await client.start_workflow(ScheduledOperation.run, scheduled, id=unique("run"), task_queue=tq)
        outcome = await handle.result()
        started = (await handle.describe()).start_time
    return outcome, run_request_id(SCHEDULE, started)


@pytest.fixture
def doubles() -> Doubles:
    return Doubles().on(InventoryActivities.record_operation, answer(None))


def skipped(doubles: Doubles) -> list[dict]:
    return [r.record for r in doubles.args(InventoryActivities.record_operation) if r.record["state"] == "skipped"]


async def test_a_run_sends_the_operation_under_the_schedule_and_its_time_retrying_while_the_service_is_busy(
        client, doubles):
    doubles.on(ScheduledRunActivities.operate, busy_then(2, succeeded))
    outcome, rid = await run(client, doubles, night())

    assert (outcome.state, outcome.attempts, outcome.request_id) == ("succeeded", 3, rid)
    sent = [c.operation for c in doubles.args(ScheduledRunActivities.operate)]
    assert {op.request.request_id for op in sent} == {rid}  # the same request id at every try
    assert sent[0].request.requested_by == "schedule night" and sent[0].request.outside_window == "wait"
    assert skipped(doubles) == []


async def test_a_run_finding_the_service_busy_past_its_retry_window_is_recorded_as_skipped(client, doubles):
    doubles.on(ScheduledRunActivities.operate, busy_then(1_000, succeeded))
    outcome, rid = await run(client, doubles, night(busy_retry_seconds=2))

    [record] = skipped(doubles)
    assert outcome.state == "skipped" and outcome.attempts >= 2
    assert record["request_id"] == rid and record["requested_by"] == "schedule night"
    assert "stayed busy" in record["detail"] and "operation u1 (upgrade) is running" in record["detail"]


async def test_a_run_whose_service_is_gone_removes_its_schedule(client, doubles):
    gone = RunOutcome(state="gone", detail="service 'shop-1' is terminated")
    doubles.on(ScheduledRunActivities.operate, answer(gone))
    doubles.on(ScheduleActivities.forget, answer(True))
    outcome, _ = await run(client, doubles, night())

    assert outcome.state == "skipped" and doubles.args(ScheduleActivities.forget) == [SCHEDULE]
    assert "its schedule is removed" in skipped(doubles)[0]["detail"]


async def test_a_run_no_worker_took_up_within_its_catch_up_window_is_skipped_not_applied_late(client, doubles):
    doubles.on(ScheduledRunActivities.operate, succeeded)
    task_queue = unique("unit")  # started while no worker polls it: the workers are down
    handle = await client.start_workflow(ScheduledOperation.run, night(catchup_window_seconds=1), id=unique("run"),
                                         task_queue=task_queue)
    await asyncio.sleep(2)
    async with Worker(client, task_queue=task_queue, workflows=[ScheduledOperation], activities=doubles.activities()):
        outcome = await handle.result()

    assert outcome.state == "skipped" and "beyond its catch-up window" in outcome.detail
    assert doubles.count(ScheduledRunActivities.operate) == 0
