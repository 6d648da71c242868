"""TMF638 Service Inventory: Legato's services as TMF Services, read from the inventory (the
services ordered through TMF641 and those created through the native API alike)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from legato.api.dependencies import CallerDep, TmfDep
from legato.api.tmf.common import FIELDS, LIMIT, OFFSET, page
from legato.api.tmf.errors import not_found
from legato.tmf import paths
from legato.tmf.render import select_fields

router = APIRouter(prefix=paths.INVENTORY, tags=["TMF638 service inventory"])


@router.get("/service", summary="List Services")
async def list_services(response: Response, caller: CallerDep, tmf: TmfDep, fields: str | None = FIELDS,
                        offset: int = OFFSET, limit: int = LIMIT) -> list[dict]:
    bodies, total = await asyncio.to_thread(tmf.services, None if caller.admin else caller.tenant, offset, limit)
    return page(response, bodies, total, fields)


@router.get("/service/{service_id}", summary="Retrieve a Service")
async def get_service(service_id: str, caller: CallerDep, tmf: TmfDep, fields: str | None = FIELDS) -> dict:
    found = await asyncio.to_thread(tmf.service, service_id)
    if found is None or not caller.sees(found[0]):
        raise not_found("service", service_id)
    return select_fields(found[1], fields)
