"""What a scheduled run sends: the service's ordinary `operate` update, through the service client
(which applies the maintenance windows), waited for to its end. A client-side activity: updates are
Temporal client calls."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity

from legato.activities.base import ActivityGroup, heartbeating
from legato.client import NotRunning, Refused, ServiceClient
from legato.maintenance import MaintenanceGate
from legato.model.operations import Operation, OperationRecord
from legato.model.status import TERMINAL_STATES


class ScheduledCall(BaseModel):
    service_id: str
    operation: Operation


class RunOutcome(BaseModel):
    """How a run's operation went: its record's state (succeeded, failed, rolled-back, refused,
    waiting), or `busy` (another operation runs, or the service is not active yet: try again),
    `refused` (the workflow would not take it: its reason), `gone` (the service is terminated,
    failed or was never there)."""

    state: str
    detail: str = ""
    record: OperationRecord | None = None


class ScheduledRunActivities(ActivityGroup):
    @activity.defn(name="schedules.operate")
    async def operate(self, call: ScheduledCall) -> RunOutcome:
        """The `operate` update, waited for to its end (heartbeating): a retry after a worker died
        sends the same request id, which joins the operation or returns its first outcome."""
        services = ServiceClient(activity.client(), activity.info().task_queue,
                                 windows=MaintenanceGate(self.inventory))
        async with heartbeating():
            try:
                record = await services.operate(call.service_id, call.operation)
            except Refused as refused:
                if refused.kind == "Busy":
                    return RunOutcome(state="busy", detail=refused.message)
                if refused.kind == "InvalidState":
                    row = await self.record(self.inventory.service, call.service_id)
                    if row is None or row.state in TERMINAL_STATES or row.state == "terminating":
                        return RunOutcome(state="gone", detail=refused.message)
                    return RunOutcome(state="busy", detail=refused.message)  # deploying: not active yet
                return RunOutcome(state="refused", detail=f"{refused.kind}: {refused.message}")
            except NotRunning as gone:
                return RunOutcome(state="gone", detail=str(gone))
        return RunOutcome(state=record.state, detail=record.detail, record=record)
