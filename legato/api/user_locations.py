"""POST /v1/services/{id}/user-locations: where a service's users are now, per area, as a 5G core's
NEF or the CAMARA Population Density Data / Location APIs report it (by the service's tenant, or an
operator); GET: the latest reports and what became of them."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Response

from legato.api.dependencies import CallerDep, InventoryDep, SettingsDep, TemporalDep
from legato.api.service_layer import user_locations
from legato.api.service_layer.services_view import visible_service
from legato.model.user_areas import LocationReport

router = APIRouter(prefix="/v1/services/{service_id}/user-locations", tags=["user locations"])


@router.post("")
async def report_user_locations(service_id: str, body: LocationReport, response: Response, caller: CallerDep,
                                inventory: InventoryDep, temporal: TemporalDep, settings: SettingsDep) -> dict:
    """Recorded at once; applied to the service's user areas (their `demand_rps`, by an `update`
    asked by `user-locations`) now if the last application is `user_locations_interval_seconds`
    ago (200), else coalesced with later reports and applied after it (202)."""
    answer = await user_locations.report(inventory, temporal, caller, service_id, body,
                                         settings.user_locations_interval_seconds)
    if not answer["applied"]:
        response.status_code = 202
    return answer


@router.get("")
async def user_location_reports(service_id: str, caller: CallerDep, inventory: InventoryDep,
                                limit: int = Query(100, ge=1, le=1000)) -> list[dict]:
    await visible_service(inventory, caller, service_id)
    rows = await asyncio.to_thread(inventory.locations_of, service_id, limit)
    return [r.model_dump() for r in rows]
