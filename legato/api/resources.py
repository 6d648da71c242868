"""/v1/sites, /v1/clusters, /v1/hosts: the continuum as the inventory knows it.

Tenants see the infrastructure but not which other tenant's service holds a host or a cluster."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from legato.api.auth import Caller, current_caller
from legato.api.schemas import MAX_OFFSET, Page
from legato.model.continuum import pool_owner

router = APIRouter(prefix="/v1", tags=["continuum"])


async def _page(request: Request, response: Response, caller: Caller, fetch, offset: int, limit: int, **kw) -> Page:
    rows, total = await asyncio.to_thread(fetch, offset, limit, **kw)
    mine = None
    if not caller.admin:
        rows_owned = [r for r in rows if getattr(r, "service_id", None)]
        owners = {r.service_id for r in rows_owned}
        inventory = request.app.state.inventory
        mine = {sid for sid in owners if (row := inventory.service(sid)) is not None and row.tenant == caller.tenant}
    items = []
    for r in rows:
        item = r.model_dump()
        owner = item.get("service_id")
        pooled = owner is not None and owner == pool_owner(item.get("cluster") or "")  # the cluster's own
        if mine is not None and owner and owner not in mine:
            if not pooled:
                item["service_id"] = "(another tenant)"
            for key in ("allocation_op", "reservation"):  # op ids name the service that made them
                if item.get(key):
                    item[key] = "(another tenant)"
        items.append(item)
    response.headers["X-Total-Count"] = str(total)
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.get("/sites", response_model=Page)
async def list_sites(request: Request, response: Response, caller: Caller = Depends(current_caller),
                     offset: int = Query(0, ge=0, le=MAX_OFFSET), limit: int = Query(100, ge=1, le=1000)) -> Page:
    return await _page(request, response, caller, request.app.state.inventory.sites, offset, limit)


class SitePrices(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cost_per_vcpu_hour: float | None = Field(default=None, ge=0)
    energy_price_kwh: float | None = Field(default=None, ge=0)
    carbon_g_per_kwh: float | None = Field(default=None, ge=0)


@router.patch("/sites/{site_id}")
async def update_site_prices(site_id: str, body: SitePrices, request: Request,
                             caller: Caller = Depends(current_caller)) -> dict:
    """Today's prices and carbon intensity of a site (operators only): what placement and the
    rebalancer optimise against."""
    if not caller.admin:
        raise HTTPException(403, "only an operator may change a site's prices")
    row = await asyncio.to_thread(request.app.state.inventory.site_prices_changed, site_id,
                                  **body.model_dump(exclude_none=True))
    if row is None:
        raise HTTPException(404, f"site '{site_id}' not found")
    return row.model_dump()


@router.get("/clusters", response_model=Page)
async def list_clusters(request: Request, response: Response, caller: Caller = Depends(current_caller),
                        offset: int = Query(0, ge=0, le=MAX_OFFSET), limit: int = Query(100, ge=1, le=1000),
                        site: str | None = None) -> Page:
    """Each shared cluster lists, in `pool`, the nodes its own pool holds: nodes a service gave up
    while they still ran other services' pods (given back once they run nothing)."""
    page = await _page(request, response, caller, request.app.state.inventory.clusters, offset, limit, site=site)
    pools = await asyncio.to_thread(request.app.state.inventory.pool_nodes, [c["id"] for c in page.items])
    for item in page.items:
        item["pool"] = pools.get(item["id"], [])
    return page


@router.get("/hosts", response_model=Page)
async def list_hosts(request: Request, response: Response, caller: Caller = Depends(current_caller),
                     offset: int = Query(0, ge=0, le=MAX_OFFSET), limit: int = Query(100, ge=1, le=1000),
                     site: str | None = None) -> Page:
    return await _page(request, response, caller, request.app.state.inventory.hosts, offset, limit, site=site)


@router.get("/findings")
async def list_findings(request: Request, caller: Caller = Depends(current_caller),
                        include_resolved: bool = Query(False)) -> list:
    """What reconciliation found. Tenants see the findings on their own services only; orphans and
    other unowned resources are the operator's."""
    inventory = request.app.state.inventory
    rows = await asyncio.to_thread(inventory.findings, not include_resolved)
    if caller.admin:
        return rows
    mine = {r.id for r in (await asyncio.to_thread(inventory.services, caller.tenant, 0, 1_000_000))[0]}
    return [r for r in rows if r.service_id in mine]
