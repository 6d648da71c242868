"""ScheduledOperation: one run of a service's schedule (legato/service_schedules.py), started by
its Temporal Schedule at each time of its recurrence, or by a trigger or a backfill.

It sends the service's ordinary `operate` update, as any client would, with a request id derived
from the schedule and the run's scheduled time (Temporal's `TemporalScheduledStartTime`, the
nominal time, jitter aside). A run retried after a worker died, the same time backfilled twice, or
a run caught up after an outage therefore applies once: the service answers a request id it has
seen with its first outcome. What the run cannot do is recorded in the service's operations log
as `skipped`, with why:

- the service is busy with another operation: retried with backoff for `busy_retry_seconds`, then
  skipped;
- no worker took the run up within its catch-up window (the Schedule applies that window to
  Temporal's own outages; this applies it to the workers'): skipped, so a scale-down due at 22:00
  does not run at 08:00 after a night without workers. A trigger or a backfill starts the run
  when asked, so it is never late;
- the service refuses it (an upgrade outside its maintenance windows with `outside_window:
  refuse`, a component gone): skipped;
- the service is gone (terminated or failed): skipped, and the schedule is removed (the service's
  workflow removes its schedules as it goes; this catches one created while it went).

An upgrade or a move due outside the maintenance windows, with `outside_window: wait`, is handed
to the service, which runs it when the window opens: the run ends `waiting`, and the operation's
own record tells how it ends."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import RecordOperation
    from legato.activities.inventory import InventoryActivities
    from legato.activities.scheduled_runs import RunOutcome, ScheduledCall, ScheduledRunActivities
    from legato.activities.schedules import ScheduleActivities
    from legato.model.names import run_request_id
    from legato.model.operations import Operation, OperationRecord, params_of
    from legato.model.schedules import ScheduledRun
    from legato.workflows.options import OPERATION, UNDO

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 30.0


class ScheduledOutcome(BaseModel):
    """What the run did: the operation's state (succeeded, failed, rolled-back, refused, waiting) or
    `skipped`, why, and how many times it asked."""

    request_id: str
    state: str
    detail: str = ""
    attempts: int = 0


@workflow.defn(name="ScheduledOperation")
class ScheduledOperation:
    @workflow.run
    async def run(self, run: ScheduledRun) -> ScheduledOutcome:
        info = workflow.info()
        at = info.typed_search_attributes.get(SCHEDULED_START) or info.workflow_start_time
        rid = run_request_id(run.schedule_id, at)
        op = self._operation(run, rid)
        late = workflow.now() - info.workflow_start_time
        if late > timedelta(seconds=run.catchup_window_seconds):
            return await self._skip(run, op, rid, 0, f"no worker took this run up for {late.total_seconds():.0f} s, "
                                    f"beyond its catch-up window of {run.catchup_window_seconds:g} s")
        give_up_at = workflow.now() + timedelta(seconds=run.busy_retry_seconds)
        attempts, delay = 0, FIRST_RETRY_SECONDS
        while True:
            attempts += 1
            outcome: RunOutcome = await workflow.execute_activity_method(
                ScheduledRunActivities.operate, ScheduledCall(service_id=run.service_id, operation=op), **OPERATION)
            if outcome.state != "busy":
                break
            if workflow.now() + timedelta(seconds=delay) > give_up_at:
                return await self._skip(run, op, rid, attempts, f"the service stayed busy ({outcome.detail}) "
                                        f"through {attempts} tries over {run.busy_retry_seconds:g} s")
            await workflow.sleep(delay)
            delay = min(delay * 2, LONGEST_RETRY_SECONDS)
        if outcome.state == "gone":
            await workflow.execute_activity_method(ScheduleActivities.forget, run.schedule_id, **UNDO)
            return await self._skip(run, op, rid, attempts, f"{outcome.detail}; its schedule is removed")
        if outcome.state == "refused" and outcome.record is None:  # refused before it was taken
            return await self._skip(run, op, rid, attempts, outcome.detail)
        return ScheduledOutcome(request_id=rid, state=outcome.state, detail=outcome.detail, attempts=attempts)

    @staticmethod
    def _operation(run: ScheduledRun, rid: str) -> Operation:
        op = run.operation.model_copy(deep=True)
        body = op.request
        body.request_id, body.requested_by = rid, f"schedule {run.name}"
        if body.outside_window is None:
            body.outside_window = run.outside_window
        return op

    async def _skip(self, run: ScheduledRun, op: Operation, rid: str, attempts: int, why: str) -> ScheduledOutcome:
        """In the service's operations log: this time of the schedule did not apply, and why."""
        now = workflow.now()
        record = OperationRecord(request_id=rid, kind=op.kind, component=op.component, params=params_of(op),
                                 requested_by=op.request.requested_by, state="skipped", detail=f"skipped: {why}",
                                 started_at=now, ended_at=now)
        await workflow.execute_activity_method(InventoryActivities.record_operation, RecordOperation(
            service_id=run.service_id, record=record.model_dump(mode="json")), **UNDO)
        workflow.logger.info("scheduled run %s skipped: %s", rid, why)
        return ScheduledOutcome(request_id=rid, state="skipped", detail=record.detail, attempts=attempts)
