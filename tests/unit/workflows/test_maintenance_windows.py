"""DeployService holding an upgrade or a move for its maintenance window, its activities replaced by
doubles: the operation waits without holding the service (scaling goes on), answers retries with
its `waiting` record, asks the windows again when they open, runs then, and is cancelled (never
run) if the service goes first. The windows themselves are the service client's to compute; here
the operation arrives carrying them, as the client sends it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from legato.activities.inventory import InventoryActivities
from legato.activities.maintenance import MaintenanceActivities, WindowCheck
from legato.activities.schedules import ScheduleActivities
from legato.activities.wdm import WDMActivities
from legato.model.operations import Operation, WindowWait
from legato.workflows.deploy_service import DeployService
from legato.workflows.saga import activity_name
from tests.unit.workflows.doubles import Doubles, eventually, worker
from tests.unit.workflows.services import active, operate, placed, scale, upgrade

SOON = 2.0  # seconds until the window opens: long enough to do things meanwhile


@pytest.fixture
def doubles() -> Doubles:
    return placed(Doubles())


def outside(op: Operation, seconds: float, refuse: bool = False) -> Operation:
    """`op` as the service client sends it outside the windows: carrying when they open."""
    opens = datetime.now(UTC) + timedelta(seconds=seconds)
    op.window = WindowWait(opens_at=opens, closes_at=opens + timedelta(hours=1), reason="windows of service test")
    if refuse:
        op.request.outside_window = "refuse"
    return op


def recorded(doubles: Doubles, rid: str) -> list[str]:
    """The states the operations log was given for `rid`, in order."""
    return [r.record["state"] for r in doubles.args(InventoryActivities.record_operation)
            if r.record["request_id"] == rid]


async def test_an_upgrade_outside_its_window_waits_while_scaling_goes_on_then_runs_when_it_opens(client, doubles):
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        held = await operate(handle, outside(upgrade("web", "2.0", "u1"), SOON))
        retried = await operate(handle, outside(upgrade("web", "2.0", "u1"), SOON))
        scaled = await operate(handle, scale("web", 3, "s1"))  # not held back, and not Busy
        assert doubles.count(WDMActivities.upgrade_workload) == 0
        await eventually(lambda: "succeeded" in recorded(doubles, "u1"), timeout=30)

    assert held.state == "waiting" and held.detail.startswith("waiting for maintenance window")
    assert held.window is not None and retried == held
    assert scaled.state == "succeeded"
    # asked again when the window opened (at or after its opening), then rolled out
    [asked] = doubles.args(MaintenanceActivities.window)
    assert asked.at >= held.window.opens_at and asked.operation.upgrade.version == "2.0"
    names = doubles.names(MaintenanceActivities.window, WDMActivities.upgrade_workload)
    assert names == [activity_name(MaintenanceActivities.window), activity_name(WDMActivities.upgrade_workload)]
    assert recorded(doubles, "u1") == ["waiting", "running", "succeeded"]


async def test_an_upgrade_that_asks_to_be_refused_outside_its_window_is_refused_and_nothing_is_recorded(client,
                                                                                                          doubles):
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await operate(handle, outside(upgrade("web", "2.0", "u1"), 3600, refuse=True))

    assert refused.value.cause.type == "OutsideMaintenanceWindow"
    assert "outside_window=wait" in refused.value.cause.message
    assert recorded(doubles, "u1") == []


async def settled(handle) -> None:
    """An operation that changes nothing, so the service's main loop is waiting (not still finishing
    its deployment) when the next operation arrives: whatever waits must set its own timer."""
    assert (await operate(handle, scale("web", 1, "settle"))).detail == "already 1 replicas"


async def test_an_upgrade_waiting_alone_runs_when_its_window_opens(client, doubles):
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        await settled(handle)
        held = await operate(handle, outside(upgrade("web", "2.0", "u1"), SOON))
        await eventually(lambda: "succeeded" in recorded(doubles, "u1"), timeout=30)

    [asked] = doubles.args(MaintenanceActivities.window)
    assert asked.at >= held.window.opens_at
    assert recorded(doubles, "u1") == ["waiting", "running", "succeeded"]


async def test_windows_changed_while_it_waited_keep_it_waiting_for_their_new_opening(client, doubles):
    later: list[WindowWait] = []

    def moved_once(query) -> WindowCheck:
        if not later:  # the first time it asks: the windows moved a few seconds on
            later.append(WindowWait(opens_at=query.at + timedelta(seconds=SOON), reason="windows of site edge-1"))
            return WindowCheck(wait=later[0])
        return WindowCheck()

    doubles.on(MaintenanceActivities.window, moved_once)
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        await settled(handle)
        await operate(handle, outside(upgrade("web", "2.0", "u1"), SOON))
        await eventually(lambda: "succeeded" in recorded(doubles, "u1"), timeout=30)

    first, second = doubles.args(MaintenanceActivities.window)
    assert second.at >= later[0].opens_at  # run only once the new opening came
    assert recorded(doubles, "u1") == ["waiting", "waiting", "running", "succeeded"]
    assert doubles.count(WDMActivities.upgrade_workload) == 1


async def test_a_service_removed_while_an_upgrade_waits_cancels_it_and_removes_its_schedules(client, doubles):
    async with worker(client, doubles, DeployService) as tq:
        handle = await active(client, tq)
        await operate(handle, outside(upgrade("web", "2.0", "u1"), 3600))
        await handle.execute_update(DeployService.terminate)

    assert recorded(doubles, "u1") == ["waiting", "cancelled"]
    assert doubles.count(WDMActivities.upgrade_workload) == 0
    [removed] = doubles.args(ScheduleActivities.remove_all)
    assert removed.tenant == "alpha"
