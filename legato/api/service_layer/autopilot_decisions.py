"""A decision on an autopilot proposal (a measure recorded in approval mode). An approval moves it
to `acting` and starts ApplyAutopilotAction (a workflow: the action survives an API restart), which
runs it as the service's own day-2 operation, the measure's id its idempotency key."""

from __future__ import annotations

import asyncio

from legato.activities.contracts import ApplyMeasure
from legato.api.auth import Caller
from legato.api.dependencies import Temporal
from legato.api.service_layer.approvals import run_once
from legato.api.service_layer.outcomes import Conflict, NotFound
from legato.inventory import Inventory
from legato.inventory.measure_tables import MeasureRow
from legato.workflows.autopilot import ApplyAutopilotAction, apply_workflow_id


async def visible_measure(inventory: Inventory, caller: Caller, measure_id: str) -> MeasureRow:
    row = await asyncio.to_thread(inventory.measure, measure_id)
    if row is None or not caller.sees(row.tenant):
        raise NotFound(f"measure '{measure_id}' not found")
    return row


async def approve(inventory: Inventory, temporal: Temporal, caller: Caller, measure_id: str,
                  wait: float | None) -> tuple[MeasureRow, bool]:
    """Carry the proposal out (approving again is harmless: the same workflow, the same operation).
    The measure, and whether the action is over: waited for `wait` seconds (None: not waited for)."""
    found = await visible_measure(inventory, caller, measure_id)
    if found.state not in ("proposed", "acting"):
        raise Conflict(f"measure '{measure_id}' is {found.state}, not a proposal waiting for approval")
    await asyncio.to_thread(inventory.measure_decided, measure_id, "acting", f"approved by {caller.tenant}",
                            ("proposed",))
    over = await run_once(temporal, ApplyAutopilotAction.run, ApplyMeasure(measure_id=measure_id),
                          apply_workflow_id(measure_id), wait)
    return await visible_measure(inventory, caller, measure_id), over


async def reject(inventory: Inventory, caller: Caller, measure_id: str) -> MeasureRow:
    await visible_measure(inventory, caller, measure_id)
    done = await asyncio.to_thread(inventory.measure_decided, measure_id, "rejected", f"rejected by {caller.tenant}",
                                   ("proposed",))
    if done is None:
        found = await visible_measure(inventory, caller, measure_id)
        raise Conflict(f"measure '{measure_id}' is {found.state}; only a proposal can be rejected")
    return done
