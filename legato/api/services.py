"""/v1/services: start, list, read and remove services (each one a DeployService workflow)."""

from __future__ import annotations

import asyncio
import logging
import secrets

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from opentelemetry import trace
from temporalio.client import Client

from legato.adapters.registry import build_adapters
from legato.api.auth import Caller, current_caller
from legato.api.schemas import (
    MAX_OFFSET,
    Accepted,
    ComponentOut,
    ConnectionOut,
    FederatedPartOut,
    Page,
    ServiceDetail,
    ServiceSummary,
    ServingOut,
)
from legato.client import AlreadyExists, NotRunning, Refused, ServiceClient, service_workflow_id
from legato.model import ServiceSpec, ServiceStatus
from legato.model.service import TENANT_SUFFIX_HEX, scoped_id, slug
from legato.model.status import TERMINAL_STATES
from legato.validation import continuum_errors
from legato.workflows.progress import CHILD_PREFIX

router = APIRouter(prefix="/v1/services", tags=["services"])
MAX_CHOSEN_ID = 63 - TENANT_SUFFIX_HEX - 1  # a DNS label, suffix included
log = logging.getLogger("legato.api")


async def temporal(request: Request) -> Client:
    return await request.app.state.temporal()


async def services_client(request: Request) -> ServiceClient:
    """The one client of the service workflows, on the API's Temporal connection."""
    client = await temporal(request)
    return ServiceClient(client, request.app.state.settings.task_queue, request.app.state.indexed)


@router.post("", status_code=202, response_model=Accepted)
async def create_service(spec: ServiceSpec, request: Request, response: Response,
                         caller: Caller = Depends(current_caller)) -> Accepted:
    if spec.tenant is not None and spec.tenant != caller.tenant and not caller.admin:
        raise HTTPException(403, f"tenant '{spec.tenant}' is not yours (you are '{caller.tenant}')")
    tenant = spec.tenant or caller.tenant
    if spec.id is not None and len(spec.id) > MAX_CHOSEN_ID:
        raise RequestValidationError([{"loc": ["body", "id"], "type": "too_long", "msg": (
            f"at most {MAX_CHOSEN_ID} characters: a chosen id gets a {TENANT_SUFFIX_HEX + 1}-character suffix "
            "of your tenant")}])
    spec = spec.model_copy(update={
        "tenant": tenant,
        # A chosen id is made the tenant's own, so no tenant can collide with another's (a 409
        # would tell that it exists); a generated one is random.
        "id": scoped_id(tenant, spec.id) if spec.id else f"{slug(spec.name)}-{secrets.token_hex(3)}",
    })
    trace.get_current_span().set_attribute("legato.service_id", spec.id)
    federation = request.app.state.federation
    areas = federation.serving_areas() if federation else set()

    errors = continuum_errors(spec, await asyncio.to_thread(request.app.state.live.facts), areas,
                              federated=bool(federation and federation.partners))
    if errors:
        raise RequestValidationError(errors)
    accepted = await start_service(request, spec)
    response.headers["Location"] = accepted.location
    return accepted


async def start_service(request: Request, spec: ServiceSpec) -> Accepted:
    """Start DeployService for a validated spec (id and tenant set); 409 if the id is in use."""
    try:
        workflow_id = await (await services_client(request)).start(spec)
    except AlreadyExists as err:
        raise HTTPException(409, str(err)) from None
    return Accepted(id=spec.id, workflow_id=workflow_id, state="accepted", location=f"/v1/services/{spec.id}")


@router.get("", response_model=Page)
async def list_services(request: Request, response: Response, caller: Caller = Depends(current_caller),
                        offset: int = Query(0, ge=0, le=MAX_OFFSET), limit: int = Query(100, ge=1, le=1000)) -> Page:
    rows, total = await asyncio.to_thread(
        request.app.state.inventory.services, None if caller.admin else caller.tenant, offset, limit, True
    )
    response.headers["X-Total-Count"] = str(total)
    items = [ServiceSummary.model_validate(r, from_attributes=True) for r in rows]
    return Page(items=items, total=total, offset=offset, limit=limit)


async def _live_status(services: ServiceClient, service_id: str) -> ServiceStatus | None:
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


@router.get("/{service_id}", response_model=ServiceDetail)
async def get_service(service_id: str, request: Request, caller: Caller = Depends(current_caller)) -> ServiceDetail:
    inventory = request.app.state.inventory
    row = await asyncio.to_thread(inventory.service, service_id)
    if row is None:
        return await _just_started(await services_client(request), service_id, caller)
    if not caller.sees(row.tenant):
        raise HTTPException(404, f"service '{service_id}' not found")
    # The workflow's state first, then what the inventory holds: a state the workflow reached has
    # its resources recorded already, so the answer never shows `active` with a connection missing.
    live = await _live_status(await services_client(request), service_id)
    components, connections, federated = await asyncio.gather(
        asyncio.to_thread(inventory.components, service_id), asyncio.to_thread(inventory.connections, service_id),
        asyncio.to_thread(inventory.federated_parts, service_id),
    )
    serving = await _serving(request, service_id, [(c.cluster, c.workload_id) for c in components])
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


SERVING_TIMEOUT = 3.0  # seconds the backends may take to say what serves; the rest of the answer does not wait


async def _serving(request: Request, service_id: str,
                   workloads: list[tuple[str, str]]) -> dict[str, list[ServingOut]] | None:
    """What serves now, read from the backends (the sim's file, the clusters' API servers): per
    component and cluster, ready replicas per version. A canary (recorded as `<name>-canary` while
    it runs) counts with its component. None when a backend does not answer in time: the record
    is still worth returning."""
    adapters = getattr(request.app.state, "adapters", None)
    if adapters is None:
        adapters = request.app.state.adapters = build_adapters(request.app.state.settings)
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
        raise HTTPException(404, f"service '{service_id}' not found") from None
    if not caller.sees(str(memo.get("tenant"))):
        raise HTTPException(404, f"service '{service_id}' not found")
    live = await _live_status(services, service_id)
    return ServiceDetail(
        id=service_id, name=str(memo.get("name", "")), tenant=str(memo["tenant"]),
        state=str(live.state) if live else "accepted", error=live.error if live else None,
        created_at=described.start_time, updated_at=described.start_time, workflow_id=handle.id, spec={},
        steps=live.steps if live else [],
    )


@router.delete("/{service_id}", status_code=202, response_model=Accepted)
async def delete_service(service_id: str, request: Request, caller: Caller = Depends(current_caller)) -> Accepted:
    row = await asyncio.to_thread(request.app.state.inventory.service, service_id)
    if row is None or not caller.sees(row.tenant):
        raise HTTPException(404, f"service '{service_id}' not found")
    if row.state in TERMINAL_STATES:
        raise HTTPException(409, f"service '{service_id}' is already {row.state}: nothing to remove")
    workflow_id = await terminate_service(request, service_id)
    return Accepted(id=service_id, workflow_id=workflow_id, state="terminating", location=f"/v1/services/{service_id}")


async def terminate_service(request: Request, service_id: str) -> str:
    """Ask the service's workflow to tear everything down; 409 if it cannot now."""
    try:
        return await (await services_client(request)).terminate(service_id)
    except (Refused, NotRunning) as err:
        raise HTTPException(409, f"service '{service_id}' cannot be removed now: {err}") from None
