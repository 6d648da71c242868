"""/v1/sites, /v1/clusters, /v1/hosts, /v1/findings: the continuum as the inventory knows it.

Tenants see the infrastructure but not which other tenant's service holds a host or a cluster
(legato/api/service_layer/continuum_view.py)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from legato.api.answers import paged
from legato.api.dependencies import BackendsDep, CallerDep, InventoryDep
from legato.api.schemas import MAX_OFFSET, Page
from legato.api.service_layer.continuum_view import clusters_page, continuum_page, findings_for

router = APIRouter(prefix="/v1", tags=["continuum"])
OFFSET = Query(0, ge=0, le=MAX_OFFSET)
LIMIT = Query(100, ge=1, le=1000)


@router.get("/sites", response_model=Page)
async def list_sites(response: Response, caller: CallerDep, inventory: InventoryDep, offset: int = OFFSET,
                     limit: int = LIMIT) -> Page:
    return paged(response, *await continuum_page(inventory, caller, inventory.sites, offset, limit), offset, limit)


class SitePrices(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cost_per_vcpu_hour: float | None = Field(default=None, ge=0)
    energy_price_kwh: float | None = Field(default=None, ge=0)
    carbon_g_per_kwh: float | None = Field(default=None, ge=0)


@router.patch("/sites/{site_id}")
async def update_site_prices(site_id: str, body: SitePrices, caller: CallerDep, inventory: InventoryDep) -> dict:
    """Today's prices and carbon intensity of a site (operators only): what placement and the
    rebalancer optimise against."""
    if not caller.admin:
        raise HTTPException(403, "only an operator may change a site's prices")
    row = await asyncio.to_thread(inventory.site_prices_changed, site_id, **body.model_dump(exclude_none=True))
    if row is None:
        raise HTTPException(404, f"site '{site_id}' not found")
    return row.model_dump()


@router.get("/clusters", response_model=Page)
async def list_clusters(response: Response, caller: CallerDep, inventory: InventoryDep, backends: BackendsDep,
                        offset: int = OFFSET, limit: int = LIMIT, site: str | None = None) -> Page:
    """Each shared cluster lists, in `pool`, the nodes its own pool holds: nodes a service gave up
    while they still ran other services' pods (given back once they run nothing). Versions are as
    each cluster reports them now (`kubernetes_version` from its `/version`, `node_versions`)."""
    return paged(response, *await clusters_page(inventory, backends, caller, offset, limit, site), offset, limit)


@router.get("/hosts", response_model=Page)
async def list_hosts(response: Response, caller: CallerDep, inventory: InventoryDep, offset: int = OFFSET,
                     limit: int = LIMIT, site: str | None = None) -> Page:
    return paged(response, *await continuum_page(inventory, caller, inventory.hosts, offset, limit, site=site),
                 offset, limit)


@router.get("/findings")
async def list_findings(caller: CallerDep, inventory: InventoryDep, include_resolved: bool = Query(False)) -> list:
    """What reconciliation found. Tenants see the findings on their own services only; orphans and
    other unowned resources are the operator's."""
    return await findings_for(inventory, caller, include_resolved)
