"""Scheduled operations and maintenance windows:

- /v1/services/{id}/schedules[/{name}]: a service's schedules of day-2 operations (POST, GET,
  PATCH to change or pause/resume, DELETE), each a Temporal Schedule;
- /v1/services/{id}/maintenance-windows (the tenant), /v1/sites/{id}/maintenance-windows and
  /v1/clusters/{id}/maintenance-windows (GET for anyone, PUT for an operator): when upgrades,
  moves and a cluster's scale-in may run.

legato/api/service_layer/service_schedules.py says what is checked."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from legato.api.dependencies import CallerDep, InventoryDep, TemporalDep
from legato.api.service_layer import service_schedules as schedules
from legato.model.schedules import (
    MaintenanceWindows,
    MaintenanceWindowsView,
    ScheduleChange,
    ScheduleRequest,
    ScheduleView,
)

router = APIRouter(tags=["schedules"])
SCHEDULES = "/v1/services/{service_id}/schedules"


@router.post(SCHEDULES, status_code=201, response_model=ScheduleView, summary="Schedule a day-2 operation")
async def create_schedule(service_id: str, body: ScheduleRequest, response: Response, caller: CallerDep,
                          inventory: InventoryDep, temporal: TemporalDep) -> ScheduleView:
    created = await schedules.create(inventory, temporal, caller, service_id, body)
    response.headers["Location"] = f"/v1/services/{service_id}/schedules/{created.name}"
    return created


@router.get(SCHEDULES, response_model=list[ScheduleView], summary="A service's schedules, with their next runs")
async def list_schedules(service_id: str, caller: CallerDep, inventory: InventoryDep,
                         temporal: TemporalDep) -> list[ScheduleView]:
    return await schedules.listed(inventory, temporal, caller, service_id)


@router.get(SCHEDULES + "/{name}", response_model=ScheduleView)
async def get_schedule(service_id: str, name: str, caller: CallerDep, inventory: InventoryDep,
                       temporal: TemporalDep) -> ScheduleView:
    return await schedules.one(inventory, temporal, caller, service_id, name)


@router.patch(SCHEDULES + "/{name}", response_model=ScheduleView, summary="Change, pause or resume a schedule")
async def change_schedule(service_id: str, name: str, body: ScheduleChange, caller: CallerDep,
                          inventory: InventoryDep, temporal: TemporalDep) -> ScheduleView:
    return await schedules.change(inventory, temporal, caller, service_id, name, body)


@router.delete(SCHEDULES + "/{name}", status_code=204)
async def delete_schedule(service_id: str, name: str, caller: CallerDep, inventory: InventoryDep,
                          temporal: TemporalDep) -> Response:
    await schedules.remove(inventory, temporal, caller, service_id, name)
    return Response(status_code=204)


def _windows_routes(scope: str, path: str, operator_only: bool) -> None:
    """GET and PUT of one kind of target's maintenance windows (PUT replaces them; [] removes them)."""

    async def get_windows(target: str, caller: CallerDep, inventory: InventoryDep) -> MaintenanceWindowsView:
        return await schedules.windows_of(inventory, caller, scope, target)

    async def put_windows(target: str, body: MaintenanceWindows, caller: CallerDep,
                          inventory: InventoryDep) -> MaintenanceWindowsView:
        if operator_only and not caller.admin:
            raise HTTPException(403, f"a {scope}'s maintenance windows are an operator's to set")
        return await schedules.set_windows(inventory, caller, scope, target, body)

    for fn, verb in ((get_windows, "get"), (put_windows, "put")):
        fn.__name__ = f"{verb}_{scope}_maintenance_windows"
    router.get(path, response_model=MaintenanceWindowsView, summary=f"A {scope}'s maintenance windows")(get_windows)
    router.put(path, response_model=MaintenanceWindowsView,
               summary=f"Set a {scope}'s maintenance windows" + (" (operator)" if operator_only else ""))(put_windows)


_windows_routes("service", "/v1/services/{target}/maintenance-windows", operator_only=False)
_windows_routes("site", "/v1/sites/{target}/maintenance-windows", operator_only=True)
_windows_routes("cluster", "/v1/clusters/{target}/maintenance-windows", operator_only=True)
