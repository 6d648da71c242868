"""One service as the API shows it: its inventory rows (service, components, connections, parts at
partners), its workflow's live progress (with a running child's steps in place), and what serves
now as the backends report it. Before the workflow's first inventory write, the workflow alone."""

from __future__ import annotations

import asyncio
import logging

from legato.api.auth import Caller
from legato.api.dependencies import Backends, Temporal
from legato.api.schemas import ComponentOut, ConnectionOut, FederatedPartOut, ServiceDetail, ServingOut
from legato.api.service_layer.outcomes import NotFound
from legato.client import ServiceClient, service_workflow_id
from legato.inventory import Inventory
from legato.inventory.tables import ServiceRow
from legato.model import ServiceStatus
from legato.workflows.progress import CHILD_PREFIX

log = logging.getLogger("legato.api")
SERVING_TIMEOUT = 3.0  # seconds the backends may take to say what serves; the rest of the answer does not wait


def not_found(service_id: str) -> NotFound:
    return NotFound(f"service '{service_id}' not found")


async def visible_service(inventory: Inventory, caller: Caller, service_id: str) -> ServiceRow:
    """The service's row; NotFound when there is none or it is another tenant's (the same answer)."""
    row = await asyncio.to_thread(inventory.service, service_id)
    if row is None or not caller.sees(row.tenant):
        raise not_found(service_id)
    return row


async def service_detail(inventory: Inventory, temporal: Temporal, backends: Backends, caller: Caller,
                         service_id: str) -> ServiceDetail:
    row = await asyncio.to_thread(inventory.service, service_id)
    if row is None:
        return await _just_started(await temporal.services(), service_id, caller)
    if not caller.sees(row.tenant):
        raise not_found(service_id)
    # The workflow's state first, then what the inventory holds: a state the workflow reached has
    # its resources recorded already, so the answer never shows `active` with a connection missing.
    live = await live_status(await temporal.services(), service_id)
    components, connections, federated = await asyncio.gather(
        asyncio.to_thread(inventory.components, service_id), asyncio.to_thread(inventory.connections, service_id),
        asyncio.to_thread(inventory.federated_parts, service_id),
    )
    serving = await _serving(backends, service_id, [(c.cluster, c.workload_id) for c in components])
    detail = ServiceDetail(
        **row.model_dump(exclude={"placement", "endpoints"}),
        workflow_id=service_workflow_id(service_id),
        placement=row.placement,
        endpoints=row.endpoints or [],
        components=[ComponentOut(**c.model_dump(), serving=None if serving is None else serving.get(c.name, []))
                    for c in components],
        connections=[ConnectionOut(**c.model_dump()) for c in connections],
        federated=[FederatedPartOut(**p.model_dump()) for p in federated],
    )
    if live is not None:
        detail.steps = live.steps
        detail.state = live.state
        detail.error = live.error
        detail.placement = detail.placement or live.placement
        detail.endpoints = detail.endpoints or live.endpoints
    return detail


async def live_status(services: ServiceClient, service_id: str) -> ServiceStatus | None:
    """The workflow's progress, with the steps of a running child (a move) shown in place."""
    status = await services.status(service_workflow_id(service_id))
    if status is None:
        return None
    steps = []
    for step in status.steps:
        steps.append(step)
        if step.state == "running" and step.detail.startswith(CHILD_PREFIX):
            child = await services.status(step.detail.removeprefix(CHILD_PREFIX))
            steps.extend(child.steps if child else [])
    status.steps = steps
    return status


async def _serving(backends: Backends, service_id: str,
                   workloads: list[tuple[str, str]]) -> dict[str, list[ServingOut]] | None:
    """What serves now, read from the backends (the sim's file, the clusters' API servers): per
    component and cluster, ready replicas per version. A canary (recorded as `<name>-canary` while
    it runs) counts with its component. None when a backend does not answer in time: the record
    is still worth returning."""
    adapters = backends.adapters()
    try:
        found = await asyncio.wait_for(asyncio.gather(*(adapters.wdm.status(c, w) for c, w in workloads)),
                                       SERVING_TIMEOUT)
    except Exception as err:  # noqa: BLE001 - unreachable or slow: said by `serving: null`
        log.warning("serving state of %s not read from the backends: %s", service_id,
                    f"{type(err).__name__}: {str(err)[:200]}")
        return None
    by_component: dict[str, list[ServingOut]] = {}
    for w in (w for w in found if w is not None):
        name = w.component.removesuffix("-canary")
        by_component.setdefault(name, []).append(ServingOut(
            cluster=w.cluster, workload_id=w.id, replicas=w.replicas, ready=sum(w.serving.values()),
            updated=w.updated_replicas, versions=w.serving))
    return by_component


async def _just_started(services: ServiceClient, service_id: str, caller: Caller) -> ServiceDetail:
    """Between the 202 and the workflow's first inventory write, the workflow alone knows the service."""
    handle = services.handle(service_id)
    try:
        described = await handle.describe()
        memo = await described.memo()
    except Exception:  # noqa: BLE001 - no such workflow
        raise not_found(service_id) from None
    if not caller.sees(str(memo.get("tenant"))):
        raise not_found(service_id)
    live = await live_status(services, service_id)
    return ServiceDetail(
        id=service_id, name=str(memo.get("name", "")), tenant=str(memo["tenant"]),
        state=str(live.state) if live else "accepted", error=live.error if live else None,
        created_at=described.start_time, updated_at=described.start_time, workflow_id=handle.id, spec={},
        steps=live.steps if live else [],
    )
