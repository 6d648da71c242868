"""A service's schedules of day-2 operations (each a Temporal Schedule: legato/service_schedules.py)
and the maintenance windows of services, sites and clusters (an API record in the inventory).

A schedule is checked as the operation it runs would be now, before anything is created: its
component exists (and is not a partner's, for a move), a move's site exists; the body's own
fields (replicas, version, cron, time zone...) were checked by the model. Only the caller's
services are reachable (NotFound otherwise, as for the service itself)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from legato import service_schedules
from legato.api.auth import Caller
from legato.api.dependencies import Temporal
from legato.api.service_layer.outcomes import Conflict, Invalid, NotFound
from legato.api.service_layer.services_view import visible_service
from legato.inventory import Inventory
from legato.inventory.tables import ServiceRow
from legato.maintenance import window_state
from legato.model.schedules import (
    MaintenanceWindows,
    MaintenanceWindowsView,
    ScheduleChange,
    ScheduleDefinition,
    ScheduledOperation,
    ScheduleRequest,
    ScheduleView,
)
from legato.model.service import NAME_PATTERN
from legato.model.status import TERMINAL_STATES

GONE = TERMINAL_STATES | {"terminating"}


async def _operation_errors(inventory: Inventory, row: ServiceRow, op: ScheduledOperation) -> list[dict]:
    """What the service would refuse in this operation now, each error at its field."""
    loc = ["body", "operation"]
    if op.kind == "update":
        return []
    known = [c.get("name") for c in (row.spec or {}).get("components", [])]
    if known and op.component not in known:
        return [{"loc": [*loc, "component"], "type": "unknown_component",
                 "msg": f"unknown component '{op.component}' (known: {sorted(known)})"}]
    if op.kind == "move":
        parts = await asyncio.to_thread(inventory.federated_parts, row.id)
        partner = next((p.partner for p in parts if op.component in p.components), None)
        if partner is not None:
            return [{"loc": [*loc, "component"], "type": "federated_component",
                     "msg": f"component '{op.component}' runs at partner {partner}: only scale and upgrade are "
                            "forwarded, a move is refused"}]
        if op.move.site is not None and not await asyncio.to_thread(inventory.site_exists, op.move.site):
            return [{"loc": [*loc, "move", "site"], "type": "unknown_site", "msg": f"unknown site '{op.move.site}'"}]
    return []


async def _schedulable(inventory: Inventory, caller: Caller, service_id: str) -> ServiceRow:
    row = await visible_service(inventory, caller, service_id)
    if row.state in GONE:
        raise Conflict(f"service '{service_id}' is {row.state}: its schedules went with it")
    return row


async def create(inventory: Inventory, temporal: Temporal, caller: Caller, service_id: str,
                 body: ScheduleRequest) -> ScheduleView:
    row = await _schedulable(inventory, caller, service_id)
    errors = await _operation_errors(inventory, row, body.operation)
    if errors:
        raise Invalid(errors)
    client = await temporal.client()
    definition = ScheduleDefinition.model_validate(body.model_dump(mode="json", exclude={"paused", "note"},
                                                                   exclude_none=True))
    try:
        sid = await service_schedules.create(client, row.tenant, service_id, definition, temporal.task_queue,
                                             temporal.indexed, body.paused, body.note)
    except service_schedules.AlreadyExists as err:
        raise Conflict(str(err)) from None
    except service_schedules.InvalidSchedule as err:
        raise Invalid([{"loc": ["body", err.field], "msg": err.message, "type": "invalid_schedule"}]) from None
    return await _found(temporal, sid, body.name, service_id)


async def _found(temporal: Temporal, sid: str, name: str, service_id: str) -> ScheduleView:
    found = await service_schedules.describe(await temporal.client(), sid)
    if found is None:
        raise NotFound(f"service '{service_id}' has no schedule '{name}'")
    return found


async def listed(inventory: Inventory, temporal: Temporal, caller: Caller, service_id: str) -> list[ScheduleView]:
    row = await visible_service(inventory, caller, service_id)
    return await service_schedules.views_of(await temporal.client(), row.tenant, service_id, temporal.indexed)


def _schedule_id(row: ServiceRow, name: str) -> str:
    """The Temporal Schedule of the service's schedule `name` (NotFound for a name no schedule can have)."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise NotFound(f"service '{row.id}' has no schedule '{name}'")
    return service_schedules.schedule_id(row.tenant, row.id, name)


async def one(inventory: Inventory, temporal: Temporal, caller: Caller, service_id: str, name: str) -> ScheduleView:
    row = await visible_service(inventory, caller, service_id)
    return await _found(temporal, _schedule_id(row, name), name, service_id)


async def change(inventory: Inventory, temporal: Temporal, caller: Caller, service_id: str, name: str,
                 changes: ScheduleChange) -> ScheduleView:
    row = await _schedulable(inventory, caller, service_id)
    current = await one(inventory, temporal, caller, service_id, name)
    try:
        definition = changes.applied_to(current.definition)  # the whole, checked before anything is sent
    except ValueError as err:
        raise Invalid(_field_errors(err)) from None
    errors = await _operation_errors(inventory, row, definition.operation)
    if errors:
        raise Invalid(errors)
    try:
        await service_schedules.change(await temporal.client(), current.schedule_id, changes, temporal.task_queue,
                                       temporal.indexed)
    except service_schedules.InvalidSchedule as err:
        raise Invalid([{"loc": ["body", err.field], "msg": err.message, "type": "invalid_schedule"}]) from None
    return await _found(temporal, current.schedule_id, name, service_id)


def _field_errors(err: ValueError) -> list[dict]:
    """A merged definition that does not hold (pydantic's errors, or a plain one), at its fields."""
    found = getattr(err, "errors", None)
    if callable(found):
        return [{"loc": ["body", *e.get("loc", [])], "msg": e.get("msg", ""), "type": e.get("type", "")}
                for e in found()]
    return [{"loc": ["body"], "msg": str(err), "type": "value_error"}]


async def remove(inventory: Inventory, temporal: Temporal, caller: Caller, service_id: str, name: str) -> None:
    row = await visible_service(inventory, caller, service_id)
    sid = _schedule_id(row, name)
    if not await service_schedules.delete(await temporal.client(), sid):
        raise NotFound(f"service '{service_id}' has no schedule '{name}'")


# --- maintenance windows ------------------------------------------------------------------------------

async def windows_target(inventory: Inventory, caller: Caller, scope: str, target: str) -> None:
    """The service, site or cluster exists and the caller may see it (NotFound otherwise)."""
    if scope == "service":
        await visible_service(inventory, caller, target)
    elif scope == "site":
        if not await asyncio.to_thread(inventory.site_exists, target):
            raise NotFound(f"site '{target}' not found")
    elif await asyncio.to_thread(inventory.cluster, target) is None:
        raise NotFound(f"cluster '{target}' not found")


async def windows_of(inventory: Inventory, caller: Caller, scope: str, target: str) -> MaintenanceWindowsView:
    await windows_target(inventory, caller, scope, target)
    row = await asyncio.to_thread(inventory.maintenance_windows, scope, target)
    declared = list(row.windows) if row else []
    now = datetime.now(UTC)
    opens, closes = await asyncio.to_thread(window_state, declared, f"{scope} {target}", now)
    open_until = closes if opens is not None and opens <= now else None
    return MaintenanceWindowsView(scope=scope, target=target, windows=declared, next_opening=opens,
                                  open_until=open_until,
                                  updated_by=row.updated_by if row else "", updated_at=row.updated_at if row else None)


async def set_windows(inventory: Inventory, caller: Caller, scope: str, target: str,
                      body: MaintenanceWindows) -> MaintenanceWindowsView:
    await windows_target(inventory, caller, scope, target)
    await asyncio.to_thread(inventory.maintenance_windows_set, scope, target,
                            [w.model_dump(mode="json", exclude_none=True) for w in body.windows], caller.tenant)
    return await windows_of(inventory, caller, scope, target)
