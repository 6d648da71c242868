"""POST /hub and DELETE /hub/{id} of each TMF API: a listener of the caller's tenant, served by
its own DeliverEvents workflow (`hub-<id>`), which delivers that API's events in order."""

from __future__ import annotations

import asyncio
import logging
import secrets

from fastapi import APIRouter, HTTPException, Response

from legato.api.dependencies import CallerDep, SettingsDep, TemporalDep, TmfDep
from legato.api.tmf.errors import not_found
from legato.api.tmf.schemas import EventSubscriptionInput
from legato.inventory.tmf_tables import HubRow
from legato.tmf import paths
from legato.workflows.event_delivery import DeliverEvents, hub_workflow_id

log = logging.getLogger("legato.api")


def hub_router(api: str, prefix: str, tag: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=[tag])

    @router.post("/hub", status_code=201, summary="Register a listener", operation_id=f"registerListener_{api}")
    async def register(data: EventSubscriptionInput, response: Response, caller: CallerDep, tmf: TmfDep,
                       temporal: TemporalDep, settings: SettingsDep) -> dict:
        hub = HubRow(id=secrets.token_hex(8), tenant=caller.tenant, api=api, callback=data.callback,
                     query=data.query)
        await asyncio.to_thread(tmf.hub_added, hub)
        try:
            client = await temporal.client()
            await client.start_workflow(DeliverEvents.run, hub.id, id=hub_workflow_id(hub.id),
                                        task_queue=temporal.task_queue)
        except Exception as err:  # noqa: BLE001 - no listener without its delivery; reported as 503
            await asyncio.to_thread(tmf.hub_removed, hub.id)
            log.warning("cannot start the delivery of hub %s: %s", hub.id, type(err).__name__)
            raise HTTPException(503, "the orchestration engine is unreachable; retry later") from None
        response.headers["Location"] = f"{settings.public_base}{prefix}/hub/{hub.id}"
        return {"id": hub.id, "callback": hub.callback, **({"query": hub.query} if hub.query else {})}

    @router.delete("/hub/{hub_id}", status_code=204, summary="Unregister a listener",
                   operation_id=f"unregisterListener_{api}")
    async def unregister(hub_id: str, caller: CallerDep, tmf: TmfDep) -> Response:
        hub = await asyncio.to_thread(tmf.hub, hub_id)
        if hub is None or hub.api != api or not caller.sees(hub.tenant):
            raise not_found("hub", hub_id)
        await asyncio.to_thread(tmf.hub_removed, hub_id)  # its workflow sees it gone and ends
        return Response(status_code=204)

    return router


routers = [
    hub_router("serviceCatalog", paths.CATALOG, "TMF633 service catalog"),
    hub_router("serviceOrdering", paths.ORDERING, "TMF641 service ordering"),
    hub_router("serviceInventory", paths.INVENTORY, "TMF638 service inventory"),
]
