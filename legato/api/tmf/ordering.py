"""TMF641 Service Ordering. The API is thin: it validates an order and resolves each item into a
plan (legato/api/service_layer/order_plans.py: the template with its characteristics for `add`,
day-2 operations for `modify`), persists the order as acknowledged, starts its ServiceOrder
workflow (`order-<id>`) and answers 201. The workflow drives the states from there
(legato/workflows/service_order.py)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request, Response
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.service import RPCError

from legato.api.auth import Caller
from legato.api.dependencies import (
    CallerDep,
    ContinuumDep,
    FederationDep,
    InventoryDep,
    SettingsDep,
    TemporalDep,
    TmfDep,
)
from legato.api.service_layer.order_plans import OrderContext, order_body, resolve
from legato.api.tmf.catalog import find_spec
from legato.api.tmf.common import FIELDS, LIMIT, OFFSET, page
from legato.api.tmf.errors import invalid, not_found
from legato.api.tmf.schemas import CancelServiceOrderCreate, ServiceOrderCreate, ServiceOrderUpdate
from legato.client import unreachable
from legato.inventory.tmf import TmfRecords
from legato.inventory.tmf_tables import CancelServiceOrderRow, ServiceOrderRow
from legato.tmf import paths
from legato.tmf.plans import CancelRequest, OrderPlan
from legato.tmf.render import select_fields
from legato.tmf.states import FINAL_ORDER_STATES, OrderState, TaskState
from legato.workflows.contracts import STATE, TENANT
from legato.workflows.service_order import ServiceOrderWorkflow, order_workflow_id

router = APIRouter(prefix=paths.ORDERING, tags=["TMF641 service ordering"])
log = logging.getLogger("legato.api")
PATCHABLE = set(ServiceOrderUpdate.model_fields) | {"@type", "@baseType", "@schemaLocation"}


def _specifications(request: Request, caller: Caller) -> Callable[[str], dict | None]:
    """The caller's view of the catalog, for an order's `add` items."""
    def specification(spec_id: str) -> dict | None:
        try:
            return find_spec(request, caller, spec_id)[0]
        except HTTPException:
            return None
    return specification


# --- serviceOrder -----------------------------------------------------------------------------

@router.post("/serviceOrder", status_code=201, summary="Create a ServiceOrder")
async def create_order(data: ServiceOrderCreate, request: Request, response: Response, caller: CallerDep,
                       inventory: InventoryDep, live: ContinuumDep, federation: FederationDep, temporal: TemporalDep,
                       tmf: TmfDep, settings: SettingsDep) -> dict:
    order_id = secrets.token_hex(5)
    context = OrderContext(caller, inventory, live, federation, _specifications(request, caller))
    plans = await asyncio.to_thread(resolve, context, order_id, data)
    body = order_body(settings.public_base, order_id, data, plans)
    client = await temporal.client()
    indexed = temporal.indexed
    plan = OrderPlan(order_id=order_id, tenant=caller.tenant, body=body, items=plans,
                     requested_start=data.requestedStartDate, index_search_attributes=indexed)
    try:
        await client.start_workflow(
            ServiceOrderWorkflow.run, plan, id=order_workflow_id(order_id), task_queue=temporal.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, memo={"tenant": caller.tenant},
            search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT, caller.tenant),
                                                     SearchAttributePair(STATE, "acknowledged")]) if indexed else None)
    except RPCError:
        log.exception("cannot start order %s", order_id)
        raise HTTPException(503, "the orchestration engine is unreachable; retry later") from None
    await asyncio.to_thread(tmf.order_accepted,
                            ServiceOrderRow(id=order_id, tenant=caller.tenant, state=body["state"], body=body))
    response.headers["Location"] = body["href"]
    return body


@router.get("/serviceOrder", summary="List ServiceOrders")
async def list_orders(response: Response, caller: CallerDep, tmf: TmfDep, fields: str | None = FIELDS,
                      offset: int = OFFSET, limit: int = LIMIT, state: OrderState | None = None) -> list[dict]:
    rows, total = await asyncio.to_thread(tmf.orders, None if caller.admin else caller.tenant, state, offset, limit)
    return page(response, [r.body for r in rows], total, fields)


async def _order(tmf: TmfRecords, caller: Caller, order_id: str) -> ServiceOrderRow:
    row = await asyncio.to_thread(tmf.order, order_id)
    if row is None or not caller.sees(row.tenant):
        raise not_found("serviceOrder", order_id)
    return row


@router.get("/serviceOrder/{order_id}", summary="Retrieve a ServiceOrder")
async def get_order(order_id: str, caller: CallerDep, tmf: TmfDep, fields: str | None = FIELDS) -> dict:
    return select_fields((await _order(tmf, caller, order_id)).body, fields)


@router.patch("/serviceOrder/{order_id}", summary="Update a ServiceOrder's descriptive attributes")
async def patch_order(order_id: str, data: ServiceOrderUpdate, caller: CallerDep, tmf: TmfDep,
                      temporal: TemporalDep) -> dict:
    """State and items are the workflow's to set (cancel with cancelServiceOrder); requestedStartDate
    can be changed while the order waits for it."""
    row = await _order(tmf, caller, order_id)
    changes = data.body()
    for key in changes:
        if key not in PATCHABLE:
            raise invalid(key, "set by Legato as the order progresses; cancel with cancelServiceOrder"
                          if key in ("state", "serviceOrderItem") else "cannot be changed")
    if "requestedStartDate" in changes:
        if row.state != OrderState.acknowledged:
            raise HTTPException(409, f"requestedStartDate: the order is already {row.state}")
        handle = (await temporal.client()).get_workflow_handle(order_workflow_id(order_id))
        await handle.signal(ServiceOrderWorkflow.reschedule, changes["requestedStartDate"])
    row = await asyncio.to_thread(tmf.order_patched, order_id, changes)
    return row.body


@router.delete("/serviceOrder/{order_id}", status_code=204, summary="Delete a finished ServiceOrder")
async def delete_order(order_id: str, caller: CallerDep, tmf: TmfDep) -> Response:
    row = await _order(tmf, caller, order_id)
    if row.state not in FINAL_ORDER_STATES:
        raise HTTPException(409, f"the order is {row.state}; cancel it with cancelServiceOrder first")
    await asyncio.to_thread(tmf.order_deleted, order_id)
    return Response(status_code=204)


# --- cancelServiceOrder --------------------------------------------------------------------------

@router.post("/cancelServiceOrder", status_code=201, summary="Cancel a ServiceOrder")
async def cancel_order(data: CancelServiceOrderCreate, response: Response, caller: CallerDep, tmf: TmfDep,
                       temporal: TemporalDep, settings: SettingsDep) -> dict:
    order = await asyncio.to_thread(tmf.order, data.serviceOrder.id)
    if order is None or not caller.sees(order.tenant):
        raise HTTPException(404, f"serviceOrder.id: serviceOrder '{data.serviceOrder.id}' not found")
    if order.state in FINAL_ORDER_STATES:
        raise HTTPException(409, f"serviceOrder.id: the order is already {order.state}")
    base = settings.public_base
    cancel_id = secrets.token_hex(5)
    body = {**data.body(), "id": cancel_id, "href": paths.cancel_href(base, cancel_id),
            "state": TaskState.accepted.value, "@type": data.type or "CancelServiceOrder",
            "serviceOrder": {"id": order.id, "href": paths.order_href(base, order.id)}}
    await asyncio.to_thread(tmf.cancel_created, CancelServiceOrderRow(id=cancel_id, tenant=caller.tenant,
                                                                      order_id=order.id, body=body))
    handle = (await temporal.client()).get_workflow_handle(order_workflow_id(order.id))
    try:
        await handle.start_update(ServiceOrderWorkflow.cancel,
                                  CancelRequest(cancel_id=cancel_id, reason=data.cancellationReason),
                                  wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    except (WorkflowUpdateFailedError, RPCError) as err:
        await asyncio.to_thread(tmf.cancel_changed, cancel_id, TaskState.terminated_with_error.value)
        if unreachable(err):
            raise
        message = getattr(getattr(err, "cause", None), "message", None) or "the order can no longer be cancelled"
        raise HTTPException(409, f"serviceOrder.id: {message}") from None
    response.headers["Location"] = body["href"]
    return (await asyncio.to_thread(tmf.cancel, cancel_id)).body


@router.get("/cancelServiceOrder", summary="List CancelServiceOrders")
async def list_cancels(response: Response, caller: CallerDep, tmf: TmfDep, fields: str | None = FIELDS,
                       offset: int = OFFSET, limit: int = LIMIT) -> list[dict]:
    rows, total = await asyncio.to_thread(tmf.cancels, None if caller.admin else caller.tenant, offset, limit)
    return page(response, [r.body for r in rows], total, fields)


@router.get("/cancelServiceOrder/{cancel_id}", summary="Retrieve a CancelServiceOrder")
async def get_cancel(cancel_id: str, caller: CallerDep, tmf: TmfDep, fields: str | None = FIELDS) -> dict:
    row = await asyncio.to_thread(tmf.cancel, cancel_id)
    if row is None or not caller.sees(row.tenant):
        raise not_found("cancelServiceOrder", cancel_id)
    return select_fields(row.body, fields)
