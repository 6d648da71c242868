"""/v1/measures: what the autopilot did, why, and what it achieved (legato/inventory/measures.py),
and the approval or rejection of what it proposed (legato/api/service_layer/autopilot_decisions.py).
A tenant sees, approves and rejects the measures of its own services; an operator every one."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Response

from legato.api.answers import decided, paged
from legato.api.dependencies import CallerDep, InventoryDep, TemporalDep
from legato.api.schemas import MAX_OFFSET, Page
from legato.api.service_layer import autopilot_decisions
from legato.api.service_layer.services_view import visible_service
from legato.inventory.measure_tables import MeasureRow

router = APIRouter(prefix="/v1/measures", tags=["autopilot"])


@router.get("", response_model=Page)
async def list_measures(response: Response, caller: CallerDep, inventory: InventoryDep,
                        service_id: str | None = Query(None, description="only this service's"),
                        offset: int = Query(0, ge=0, le=MAX_OFFSET), limit: int = Query(100, ge=1, le=1000)) -> Page:
    """Newest first: each automatic action (or proposal) with its reason and figures, the KPIs over
    the window before and after it, their difference (`effect`) and whether the breach it answered
    was gone after (`helped`)."""
    if service_id is not None:
        await visible_service(inventory, caller, service_id)
    tenant = None if caller.admin else caller.tenant
    items, total = await asyncio.to_thread(inventory.measures, tenant, service_id, offset, limit)
    return paged(response, items, total, offset, limit)


@router.get("/{measure_id}", response_model=MeasureRow)
async def get_measure(measure_id: str, caller: CallerDep, inventory: InventoryDep) -> MeasureRow:
    return await autopilot_decisions.visible_measure(inventory, caller, measure_id)


@router.post("/{measure_id}/approve", response_model=MeasureRow)
async def approve(measure_id: str, response: Response, caller: CallerDep, inventory: InventoryDep,
                  temporal: TemporalDep,
                  wait: bool = Query(True, description="return when the action ends (else 202 at once)"),
                  timeout: float = Query(300.0, ge=0, le=3600)) -> MeasureRow:
    """Carry out what the autopilot proposed (approval mode): the service's own day-2 operation."""
    row, over = await autopilot_decisions.approve(inventory, temporal, caller, measure_id,
                                                  timeout if wait and timeout > 0 else None)
    return decided(response, f"/v1/measures/{measure_id}", row, over)


@router.post("/{measure_id}/reject", response_model=MeasureRow)
async def reject(measure_id: str, caller: CallerDep, inventory: InventoryDep) -> MeasureRow:
    return await autopilot_decisions.reject(inventory, caller, measure_id)
