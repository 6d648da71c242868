"""Sites, hosts, clusters and findings as a caller may see them: tenants see the infrastructure but
not which other tenant's service holds a host or a cluster, and the findings on their own services
only (orphans and other unowned resources are the operator's)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from legato.api.auth import Caller
from legato.api.dependencies import Backends
from legato.inventory import Inventory
from legato.inventory.tables import FindingRow
from legato.model.continuum import pool_owner

ANOTHER_TENANT = "(another tenant)"
VERSIONS_TIMEOUT = 5.0  # seconds the clusters' own answers are waited for; past it, the last ones recorded
log = logging.getLogger("legato.api")


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


async def clusters_page(inventory: Inventory, backends: Backends, caller: Caller, offset: int, limit: int,
                        site: str | None) -> tuple[list[dict], int]:
    """Each shared cluster lists, in `pool`, the nodes its own pool holds, and the versions the
    cluster reports now (its `/version`, its kubelets), read through its MCM: what an operator
    chooses an upgrade from. A cluster that does not answer in time shows the versions last read."""
    items, total = await continuum_page(inventory, caller, inventory.clusters, offset, limit, site=site)
    pools = await asyncio.to_thread(inventory.pool_nodes, [c["id"] for c in items])
    mcm = backends.adapters().mcm
    try:
        found = await asyncio.wait_for(asyncio.gather(*(mcm.get_cluster(c["id"]) for c in items),
                                                      return_exceptions=True), VERSIONS_TIMEOUT)
    except TimeoutError:
        log.warning("clusters' versions not read in %g s: the last ones recorded are shown", VERSIONS_TIMEOUT)
        found = [None] * len(items)
    for item, live in zip(items, found, strict=True):
        item["pool"] = pools.get(item["id"], [])
        if live is not None and not isinstance(live, BaseException) and live.kubernetes_version:
            item["kubernetes_version"], item["node_versions"] = live.kubernetes_version, live.node_versions
    return items, total


async def findings_for(inventory: Inventory, caller: Caller, include_resolved: bool) -> list[FindingRow]:
    return await asyncio.to_thread(inventory.findings, not include_resolved, None if caller.admin else caller.tenant)
