"""A service's user areas changed while it runs: the PATCH's `user_areas` checked like the spec's,
and location reports recorded, turned into demand, and applied at most once per interval
(legato/user_locations.py)."""

from __future__ import annotations

import asyncio
import time

from pydantic import ValidationError

from legato.api.auth import Caller
from legato.api.dependencies import Temporal
from legato.api.service_layer.outcomes import Conflict, Invalid
from legato.api.service_layer.services_view import visible_service
from legato.client import Refused
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.inventory.location_tables import UserLocationRow
from legato.model import ServiceSpec
from legato.model.operations import UpdateServiceRequest
from legato.model.user_areas import LocationReport, connection_changes
from legato.user_locations import apply_pending, demand_of
from legato.validation import continuum_errors


async def check_user_areas(live: LiveContinuum, inventory: Inventory, caller: Caller, service_id: str,
                           body: UpdateServiceRequest) -> None:
    """New user areas checked as at creation (areas the continuum knows, entry components the
    service has, latencies possible) and against what the running service can follow (only the
    demand may change: legato/model/user_areas.py); each error names its field."""
    if body.user_areas is None:
        return
    row = await visible_service(inventory, caller, service_id)
    new = [a.model_dump() for a in body.user_areas]
    try:
        spec = ServiceSpec.model_validate({**row.spec, "user_areas": new})
    except ValidationError as err:
        raise Invalid([{"loc": ["body", "user_areas"], "type": "invalid_user_areas",
                        "msg": e["msg"].removeprefix("Value error, ")} for e in err.errors()]) from None
    facts = await asyncio.to_thread(live.facts)
    errors = [e for e in continuum_errors(spec, facts) if tuple(e["loc"][1:2]) == ("user_areas",)]
    errors += [{"loc": ["body", "user_areas", *where], "type": "not_followed", "msg": why}
               for where, why in connection_changes(ServiceSpec.model_validate(row.spec), body.user_areas)]
    if errors:
        raise Invalid(errors)


async def report(inventory: Inventory, temporal: Temporal, caller: Caller, service_id: str, body: LocationReport,
                 interval: float) -> dict:
    """Record the report (each area's demand derived now, from the service's areas as they are and
    the area's last population), and apply what waits if the last application is `interval` ago."""
    row = await visible_service(inventory, caller, service_id)
    if row.state != "active":
        raise Conflict(f"service '{service_id}' is {row.state}: its user areas follow reports only while it is "
                       "active")
    spec = ServiceSpec.model_validate(row.spec)
    declared = [a.area for a in spec.user_areas]
    errors, seen = [], set()
    for i, item in enumerate(body.areas):
        if item.area not in declared:
            errors.append({"loc": ["body", "areas", i, "area"], "type": "unknown_area", "msg": (
                f"'{item.area}' is not one of the service's user areas {declared} (adding an area to a running "
                "service is not built yet)")})
        elif item.area in seen:
            errors.append({"loc": ["body", "areas", i, "area"], "type": "duplicate", "msg": f"'{item.area}' twice"})
        seen.add(item.area)
    if errors:
        raise Invalid(errors)
    now = time.time()
    pending = {r.area: r.demand_rps for r in await asyncio.to_thread(inventory.locations_pending, service_id)}
    current = {a.area: pending.get(a.area, a.demand_rps) for a in spec.user_areas}
    last = await asyncio.to_thread(inventory.locations_last_applied, service_id)
    apply_after = now if last is None else max(now, last + interval)
    rows = []
    for item in body.areas:
        base = await asyncio.to_thread(inventory.location_last_users, service_id, item.area)
        rows.append(UserLocationRow(
            service_id=service_id, area=item.area, users=item.users,
            demand_rps=demand_of(item, current[item.area], base),
            reported_at=now, observed_at=body.observed_at.timestamp() if body.observed_at else None,
            reported_by=f"{caller.tenant} ({body.source})" if body.source else caller.tenant, apply_after=apply_after))
    await asyncio.to_thread(inventory.locations_recorded, rows)
    answer = {"recorded": {r.area: round(r.demand_rps, 4) for r in rows}, "applied": False, "operation": None,
              "apply_after": apply_after}  # fmt: skip
    if apply_after <= now:
        try:
            answer["operation"] = await apply_pending(inventory, await temporal.services(), spec, now)
            answer["applied"] = True
        except Refused as busy:  # another operation runs: the autopilot's round applies them later
            answer["waiting"] = busy.message
    return answer
