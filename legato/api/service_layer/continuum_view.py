"""Sites, hosts, clusters and findings as a caller may see them: tenants see the infrastructure but
not which other tenant's service holds a host or a cluster, and the findings on their own services
only (orphans and other unowned resources are the operator's)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from legato.api.auth import Caller
from legato.inventory import Inventory
from legato.inventory.tables import FindingRow
from legato.model.continuum import pool_owner

ANOTHER_TENANT = "(another tenant)"


async def continuum_page(inventory: Inventory, caller: Caller, fetch: Callable, offset: int, limit: int,
                         **filters) -> tuple[list[dict], int]:
    """One page of `fetch` (inventory.sites, .hosts or .clusters) and the total, each row as the
    caller may see it."""
    rows, total = await asyncio.to_thread(fetch, offset, limit, **filters)
    mine = None
    if not caller.admin:
        owners = {r.service_id for r in rows if getattr(r, "service_id", None)}
        tenants = await asyncio.to_thread(inventory.tenants_of, owners)
        mine = {sid for sid, tenant in tenants.items() if tenant == caller.tenant}
    items = []
    for r in rows:
        item = r.model_dump()
        owner = item.get("service_id")
        pooled = owner is not None and owner == pool_owner(item.get("cluster") or "")  # the cluster's own
        if mine is not None and owner and owner not in mine:
            if not pooled:
                item["service_id"] = ANOTHER_TENANT
            for key in ("allocation_op", "reservation"):  # op ids name the service that made them
                if item.get(key):
                    item[key] = ANOTHER_TENANT
        items.append(item)
    return items, total


async def clusters_page(inventory: Inventory, caller: Caller, offset: int, limit: int,
                        site: str | None) -> tuple[list[dict], int]:
    """Each shared cluster lists, in `pool`, the nodes its own pool holds."""
    items, total = await continuum_page(inventory, caller, inventory.clusters, offset, limit, site=site)
    pools = await asyncio.to_thread(inventory.pool_nodes, [c["id"] for c in items])
    for item in items:
        item["pool"] = pools.get(item["id"], [])
    return items, total


async def findings_for(inventory: Inventory, caller: Caller, include_resolved: bool) -> list[FindingRow]:
    return await asyncio.to_thread(inventory.findings, not include_resolved, None if caller.admin else caller.tenant)
