"""Location events turned into a service's demand: each area's report becomes its `demand_rps`,
and the reports are applied through the service's own `update` operation — at most once per
interval, so a stream of events never floods the service with operations: reports that arrive
within the interval wait, coalesced (the latest of each area wins), and are applied by the next
report after it or by the autopilot's next round, whichever comes first."""

from __future__ import annotations

import asyncio

from legato.client import NotRunning, ServiceClient
from legato.inventory import Inventory
from legato.inventory.location_tables import UserLocationRow
from legato.model import ServiceSpec
from legato.model.operations import Operation, UpdateServiceRequest
from legato.model.user_areas import AreaReport, with_demand

USER_LOCATIONS = "user-locations"  # who the operations log says asked
MIN_DEMAND = 0.01  # req/s: an area whose users all left still declares a trace (demand_rps must be > 0)


def demand_of(report: AreaReport, current_rps: float, base: UserLocationRow | None) -> float:
    """The area's demand from its report: given, or scaled with its population from the area's last
    report that gave one (requests per user as then). Without such a base, or from a base of no
    users, the population becomes the base and the demand stays as it is."""
    if report.demand_rps is not None:
        return report.demand_rps
    if base is None or not base.users:
        return current_rps
    return max(MIN_DEMAND, base.demand_rps / base.users * (report.users or 0))


def coalesced(pending: list[UserLocationRow]) -> dict[str, float]:
    """The demand each area gets from the reports waiting, oldest first: the latest of each wins."""
    return {row.area: row.demand_rps for row in sorted(pending, key=lambda r: r.id or 0)}


async def apply_pending(inventory: Inventory, services: ServiceClient, spec: ServiceSpec, now: float) -> str | None:
    """Apply the service's waiting reports as one `update` of its user areas (the request id names
    the newest report, so a retry is the same operation). Returns the operation's request id, or
    None when nothing waited. A busy service (Refused) leaves them waiting for the next round."""
    pending = await asyncio.to_thread(inventory.locations_pending, spec.id)
    if not pending:
        return None
    rid = f"{USER_LOCATIONS}-{spec.id}-{pending[-1].id}"
    op = Operation(kind="update", update=UpdateServiceRequest(
        user_areas=with_demand(spec, coalesced(pending)), request_id=rid, requested_by=USER_LOCATIONS))
    try:
        await services.operate(spec.id, op, 0)
    except NotRunning:
        rid = f"not applied: service {spec.id} no longer runs"
    await asyncio.to_thread(inventory.locations_applied, [r.id for r in pending if r.id is not None], now, rid)
    return rid
