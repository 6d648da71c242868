"""Day-2 operations: /v1/services/{id}/components/{name}/scale|upgrade|move, PATCH /v1/services/{id},
/v1/services/{id}/operations. Synchronous by default: the call returns when the operation ends, or
after `timeout` seconds with 202 and the operation's URL to poll."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from legato.api.auth import Caller, current_caller
from legato.api.services import services_client
from legato.client import NotRunning, Refused
from legato.model.operations import (
    MoveRequest,
    Operation,
    OperationRecord,
    ScaleRequest,
    UpdateServiceRequest,
    UpgradeRequest,
)

router = APIRouter(prefix="/v1/services/{service_id}", tags=["operations"])
REFUSALS = {"Busy": 409, "InvalidState": 409, "NotFound": 404, "InvalidOperation": 422, "IdempotencyMismatch": 422}


async def _owned(request: Request, service_id: str, caller: Caller):
    row = await asyncio.to_thread(request.app.state.inventory.service, service_id)
    if row is None or not caller.sees(row.tenant):
        raise HTTPException(404, f"service '{service_id}' not found")
    return row


async def run_operation(request: Request, response: Response, service_id: str, caller: Caller, op: Operation,
                        idempotency_key: str | None, wait: bool, timeout: float) -> OperationRecord | dict:
    """A day-2 operation on a caller's service, as the routes answer it (the native API and a
    partner's forwarded operations): the record, or 202 with where to follow it; refusals as HTTP."""
    row = await _owned(request, service_id, caller)
    body = op.request
    body.request_id = body.request_id or idempotency_key or uuid.uuid4().hex
    body.requested_by = caller.tenant
    if op.kind == "move" and op.move.site is not None:
        sites = {s.id for s in (await asyncio.to_thread(request.app.state.inventory.sites, 0, 100_000))[0]}
        if op.move.site not in sites:
            raise RequestValidationError([{"loc": ["body", "site"], "msg": f"unknown site '{op.move.site}'",
                                           "type": "unknown_site"}])
    try:
        result = await (await services_client(request)).operate(service_id, op, (timeout if wait else 0) or 0)
    except Refused as refused:
        raise HTTPException(REFUSALS.get(refused.kind, 409), refused.message) from None
    except NotRunning:
        raise HTTPException(409, f"service '{service_id}' is {row.state}: it takes no more operations") from None
    location = f"/v1/services/{service_id}/operations/{body.request_id}"
    response.headers["Location"] = location
    if isinstance(result, OperationRecord):
        return result
    response.status_code = 202
    return {"request_id": body.request_id, "state": "running", "location": location}


WAIT = Query(True, description="return when the operation ends (else 202 at once)")
TIMEOUT = Query(300.0, ge=0, le=3600, description="seconds to wait before answering 202")
KEY = Header(None, alias="Idempotency-Key", description="same as body request_id")


def _component_route(kind: str, body_type: type) -> None:
    """POST /components/{name}/<kind>: the three component operations differ only by their body."""

    async def handler(service_id: str, name: str, body, request: Request, response: Response,
                      caller: Caller = Depends(current_caller), wait: bool = WAIT, timeout: float = TIMEOUT,
                      idempotency_key: str | None = KEY):
        op = Operation(kind=kind, component=name, **{kind: body})
        return await run_operation(request, response, service_id, caller, op, idempotency_key, wait, timeout)

    handler.__annotations__["body"] = body_type
    handler.__name__ = kind
    router.post(f"/components/{{name}}/{kind}", summary=f"{kind.capitalize()} a component")(handler)


_component_route("scale", ScaleRequest)
_component_route("upgrade", UpgradeRequest)
_component_route("move", MoveRequest)


@router.patch("")
async def update_service(service_id: str, body: UpdateServiceRequest, request: Request, response: Response,
                         caller: Caller = Depends(current_caller), wait: bool = WAIT, timeout: float = TIMEOUT,
                         idempotency_key: str | None = KEY):
    op = Operation(kind="update", update=body)
    result = await run_operation(request, response, service_id, caller, op, idempotency_key, wait, timeout)
    broken = await _breaking(request, service_id, body) if body.policy is not None else []
    if not broken:
        return result
    out = result.model_dump(mode="json") if isinstance(result, OperationRecord) else dict(result)
    out["warnings"] = broken
    return out


async def _breaking(request: Request, service_id: str, body: UpdateServiceRequest) -> list[str]:
    """Components that run where the new policy no longer allows: updated all the same (the policy
    is what later placements apply; nothing moves by itself), but the caller hears it."""
    facts = await asyncio.to_thread(request.app.state.live.facts)
    policy, found = body.policy, []
    for comp in await asyncio.to_thread(request.app.state.inventory.components, service_id):
        site = facts.sites.get(comp.site)
        if site is None:
            continue
        if policy.allowed_countries is not None and site.country not in policy.allowed_countries:
            found.append(f"{comp.name} runs at {comp.site} in {site.country}, not in allowed_countries "
                         f"{policy.allowed_countries}: move it to comply")
        if policy.allowed_providers is not None and site.provider not in policy.allowed_providers:
            found.append(f"{comp.name} runs at {comp.site} of {site.provider}, not in allowed_providers "
                         f"{policy.allowed_providers}: move it to comply")
    return found


@router.get("/operations")
async def list_operations(service_id: str, request: Request, caller: Caller = Depends(current_caller)) -> list:
    await _owned(request, service_id, caller)
    return await asyncio.to_thread(request.app.state.inventory.service_operations, service_id)


@router.get("/operations/{request_id}")
async def get_operation(service_id: str, request_id: str, request: Request,
                        caller: Caller = Depends(current_caller)):
    await _owned(request, service_id, caller)
    row = await asyncio.to_thread(request.app.state.inventory.service_operation, request_id)
    if row is None or row.service_id != service_id:
        raise HTTPException(404, f"operation '{request_id}' not found")
    return row

