"""/v1/services: start, list, read and remove services (each one a DeployService workflow)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.exceptions import RequestValidationError

from legato.api.answers import paged
from legato.api.dependencies import BackendsDep, CallerDep, ContinuumDep, FederationDep, InventoryDep, TemporalDep
from legato.api.schemas import MAX_OFFSET, Accepted, Page, ServiceDetail, ServiceSummary
from legato.api.service_layer import service_lifecycle, services_view
from legato.model import ServiceSpec
from legato.model.service import TENANT_SUFFIX_HEX

router = APIRouter(prefix="/v1/services", tags=["services"])
MAX_CHOSEN_ID = 63 - TENANT_SUFFIX_HEX - 1  # a DNS label, suffix included


@router.post("", status_code=202, response_model=Accepted)
async def create_service(spec: ServiceSpec, response: Response, caller: CallerDep, temporal: TemporalDep,
                         live: ContinuumDep, federation: FederationDep) -> Accepted:
    if spec.tenant is not None and spec.tenant != caller.tenant and not caller.admin:
        raise HTTPException(403, f"tenant '{spec.tenant}' is not yours (you are '{caller.tenant}')")
    if spec.id is not None and len(spec.id) > MAX_CHOSEN_ID:
        raise RequestValidationError([{"loc": ["body", "id"], "type": "too_long", "msg": (
            f"at most {MAX_CHOSEN_ID} characters: a chosen id gets a {TENANT_SUFFIX_HEX + 1}-character suffix "
            "of your tenant")}])
    accepted = await service_lifecycle.create(temporal, live, federation, spec, spec.tenant or caller.tenant)
    response.headers["Location"] = accepted.location
    return accepted


@router.get("", response_model=Page)
async def list_services(response: Response, caller: CallerDep, inventory: InventoryDep,
                        offset: int = Query(0, ge=0, le=MAX_OFFSET), limit: int = Query(100, ge=1, le=1000)) -> Page:
    rows, total = await asyncio.to_thread(inventory.services, None if caller.admin else caller.tenant, offset, limit,
                                          True)
    items = [ServiceSummary.model_validate(r, from_attributes=True) for r in rows]
    return paged(response, items, total, offset, limit)


@router.get("/{service_id}", response_model=ServiceDetail)
async def get_service(service_id: str, caller: CallerDep, inventory: InventoryDep, temporal: TemporalDep,
                      backends: BackendsDep) -> ServiceDetail:
    return await services_view.service_detail(inventory, temporal, backends, caller, service_id)


@router.delete("/{service_id}", status_code=202, response_model=Accepted)
async def delete_service(service_id: str, caller: CallerDep, inventory: InventoryDep,
                         temporal: TemporalDep) -> Accepted:
    return await service_lifecycle.remove(inventory, temporal, caller, service_id)
