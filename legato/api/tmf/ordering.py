"""TMF641 Service Ordering. The API is thin: it validates an order and resolves each item into a
plan (the template with its characteristics for `add`, day-2 operations for `modify`), persists
the order as acknowledged, starts its ServiceOrder workflow (`order-<id>`) and answers 201. The
workflow drives the states from there (legato/workflows/service_order.py)."""

from __future__ import annotations

import asyncio
import logging
import secrets

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.service import RPCError

from legato.api.auth import Caller, current_caller
from legato.api.tmf.catalog import find_spec, template_of
from legato.api.tmf.common import FIELDS, LIMIT, OFFSET, page, records
from legato.api.tmf.errors import invalid, not_found
from legato.api.tmf.schemas import CancelServiceOrderCreate, ServiceOrderCreate, ServiceOrderItem, ServiceOrderUpdate
from legato.client import unreachable
from legato.inventory.tmf_tables import CancelServiceOrderRow, ServiceOrderRow
from legato.model import ServiceSpec
from legato.model.service import slug
from legato.model.status import TERMINAL_STATES
from legato.tmf import paths, render
from legato.tmf.characteristics import InvalidCharacteristic, apply_to_template, operations
from legato.tmf.plans import CancelRequest, ItemPlan, OrderPlan
from legato.tmf.render import ITEM_LABEL, ORDER_LABEL, SPEC_LABEL, select_fields
from legato.tmf.states import FINAL_ORDER_STATES, OrderState, TaskState
from legato.validation import continuum_errors
from legato.workflows.contracts import STATE, TENANT
from legato.workflows.service_order import ServiceOrderWorkflow, order_workflow_id

router = APIRouter(prefix=paths.ORDERING, tags=["TMF641 service ordering"])
log = logging.getLogger("legato.api")
PATCHABLE = set(ServiceOrderUpdate.model_fields) | {"@type", "@baseType", "@schemaLocation"}


# --- resolving items into plans ------------------------------------------------------------------

def _owned_service(request: Request, caller: Caller, item: ServiceOrderItem, where: str):
    if not item.service.id:
        raise invalid(f"{where}.service.id", f"required for action '{item.action}'")
    row = request.app.state.inventory.service(item.service.id)
    if row is None or not caller.sees(row.tenant):
        raise invalid(f"{where}.service.id", f"service '{item.service.id}' not found")
    if row.state in TERMINAL_STATES:
        raise invalid(f"{where}.service.id", f"service '{item.service.id}' is {row.state}")
    return row


def _add(request: Request, caller: Caller, order_id: str, i: int, item: ServiceOrderItem) -> ItemPlan:
    where = f"serviceOrderItem[{i}]"
    ref = item.service.serviceSpecification
    if ref is None:
        raise invalid(f"{where}.service.serviceSpecification", "required for action 'add'")
    try:
        body, _ = find_spec(request, caller, ref.id)
    except HTTPException:
        raise invalid(f"{where}.service.serviceSpecification.id", f"unknown serviceSpecification '{ref.id}'") from None
    template = template_of(body)
    name = item.service.name or template.name
    service_id = f"{slug(name)[:36].strip('-')}-{order_id}-{i}"
    try:
        spec = apply_to_template(template, [c.body() for c in item.service.serviceCharacteristic or []],
                                 f"{where}.service.serviceCharacteristic", id=service_id, tenant=caller.tenant,
                                 name=name)
    except InvalidCharacteristic as err:
        raise invalid(err.field, err.message) from None
    spec = spec.model_copy(update={"labels": {**spec.labels, ORDER_LABEL: order_id, ITEM_LABEL: item.id,
                                              SPEC_LABEL: ref.id}})
    federation = request.app.state.federation
    errors = continuum_errors(spec, request.app.state.live.facts(), federation.serving_areas() if federation else (),
                              federated=bool(federation and federation.partners))
    if errors:
        first = errors[0]
        loc = ".".join(str(p) for p in first.get("loc", [])[1:])
        raise invalid(f"{where}.service.serviceCharacteristic", f"{loc}: {first.get('msg', '')}")
    return ItemPlan(id=item.id, action="add", service_id=service_id, spec=spec)


def _modify(request: Request, caller: Caller, order_id: str, i: int, item: ServiceOrderItem) -> ItemPlan:
    where = f"serviceOrderItem[{i}]"
    row = _owned_service(request, caller, item, where)
    sites = {c.name: c.site for c in request.app.state.inventory.components(row.id)}
    chars = [c.body() for c in item.service.serviceCharacteristic or []]
    try:
        ops = operations(ServiceSpec.model_validate(row.spec), sites, chars,
                         f"{where}.service.serviceCharacteristic", f"order-{order_id}/{item.id}",
                         requested_by=f"serviceOrder {order_id} item {item.id}")
    except InvalidCharacteristic as err:
        raise invalid(err.field, err.message) from None
    known_sites = {s.id for s in request.app.state.inventory.sites(0, 100_000)[0]}
    for op in ops:
        if op.kind == "move" and op.move.site is not None and op.move.site not in known_sites:
            raise invalid(f"{where}.service.serviceCharacteristic", f"{op.component}.site: unknown site "
                                                                    f"'{op.move.site}'")
    return ItemPlan(id=item.id, action="modify", service_id=row.id, operations=ops)


def resolve(request: Request, caller: Caller, order_id: str, data: ServiceOrderCreate) -> list[ItemPlan]:
    seen: set[str] = set()
    plans = []
    for i, item in enumerate(data.serviceOrderItem):
        if item.id in seen:
            raise invalid(f"serviceOrderItem[{i}].id", f"item id '{item.id}' is used twice")
        seen.add(item.id)
        if item.action == "add":
            plans.append(_add(request, caller, order_id, i, item))
        elif item.action == "modify":
            plans.append(_modify(request, caller, order_id, i, item))
        elif item.action == "delete":
            row = _owned_service(request, caller, item, f"serviceOrderItem[{i}]")
            plans.append(ItemPlan(id=item.id, action="delete", service_id=row.id))
        else:
            plans.append(ItemPlan(id=item.id, action="noChange", service_id=item.service.id))
    services = [p.service_id for p in plans if p.service_id and p.action != "noChange"]
    if len(set(services)) != len(services):
        dup = next(s for s in services if services.count(s) > 1)
        raise invalid("serviceOrderItem", f"service '{dup}' is the subject of more than one item")
    return plans


def order_body(request: Request, order_id: str, data: ServiceOrderCreate, plans: list[ItemPlan]) -> dict:
    base = request.app.state.settings.public_base
    body = data.body()
    for item, plan in zip(body["serviceOrderItem"], plans, strict=True):
        item["state"] = OrderState.acknowledged.value
        item.setdefault("@type", "ServiceOrderItem")
        if plan.action == "add":
            item["service"] = {**item["service"], "id": plan.service_id,
                               "href": paths.service_href(base, plan.service_id)}
    return {**body, "id": order_id, "href": paths.order_href(base, order_id),
            "@type": body.get("@type", "ServiceOrder"), "state": OrderState.acknowledged.value,
            "orderDate": render.now()}


# --- serviceOrder -----------------------------------------------------------------------------

@router.post("/serviceOrder", status_code=201, summary="Create a ServiceOrder")
async def create_order(data: ServiceOrderCreate, request: Request, response: Response,
                       caller: Caller = Depends(current_caller)) -> dict:
    order_id = secrets.token_hex(5)
    plans = await asyncio.to_thread(resolve, request, caller, order_id, data)
    body = order_body(request, order_id, data, plans)
    client = await request.app.state.temporal()
    indexed = request.app.state.indexed
    plan = OrderPlan(order_id=order_id, tenant=caller.tenant, body=body, items=plans,
                     requested_start=data.requestedStartDate, index_search_attributes=indexed)
    try:
        await client.start_workflow(
            ServiceOrderWorkflow.run, plan, id=order_workflow_id(order_id),
            task_queue=request.app.state.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, memo={"tenant": caller.tenant},
            search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT, caller.tenant),
                                                     SearchAttributePair(STATE, "acknowledged")]) if indexed else None)
    except RPCError:
        log.exception("cannot start order %s", order_id)
        raise HTTPException(503, "the orchestration engine is unreachable; retry later") from None
    await asyncio.to_thread(records(request).order_accepted,
                            ServiceOrderRow(id=order_id, tenant=caller.tenant, state=body["state"], body=body))
    response.headers["Location"] = body["href"]
    return body


@router.get("/serviceOrder", summary="List ServiceOrders")
async def list_orders(request: Request, response: Response, caller: Caller = Depends(current_caller),
                      fields: str | None = FIELDS, offset: int = OFFSET, limit: int = LIMIT,
                      state: OrderState | None = None) -> list[dict]:
    rows, total = await asyncio.to_thread(records(request).orders, None if caller.admin else caller.tenant,
                                          state, offset, limit)
    return page(response, [r.body for r in rows], total, fields)


async def _order(request: Request, caller: Caller, order_id: str) -> ServiceOrderRow:
    row = await asyncio.to_thread(records(request).order, order_id)
    if row is None or not caller.sees(row.tenant):
        raise not_found("serviceOrder", order_id)
    return row


@router.get("/serviceOrder/{order_id}", summary="Retrieve a ServiceOrder")
async def get_order(order_id: str, request: Request, caller: Caller = Depends(current_caller),
                    fields: str | None = FIELDS) -> dict:
    return select_fields((await _order(request, caller, order_id)).body, fields)


@router.patch("/serviceOrder/{order_id}", summary="Update a ServiceOrder's descriptive attributes")
async def patch_order(order_id: str, data: ServiceOrderUpdate, request: Request,
                      caller: Caller = Depends(current_caller)) -> dict:
    """State and items are the workflow's to set (cancel with cancelServiceOrder); requestedStartDate
    can be changed while the order waits for it."""
    row = await _order(request, caller, order_id)
    changes = data.body()
    for key in changes:
        if key not in PATCHABLE:
            raise invalid(key, "set by Legato as the order progresses; cancel with cancelServiceOrder"
                          if key in ("state", "serviceOrderItem") else "cannot be changed")
    if "requestedStartDate" in changes:
        if row.state != OrderState.acknowledged:
            raise HTTPException(409, f"requestedStartDate: the order is already {row.state}")
        handle = (await request.app.state.temporal()).get_workflow_handle(order_workflow_id(order_id))
        await handle.signal(ServiceOrderWorkflow.reschedule, changes["requestedStartDate"])
    row = await asyncio.to_thread(records(request).order_patched, order_id, changes)
    return row.body


@router.delete("/serviceOrder/{order_id}", status_code=204, summary="Delete a finished ServiceOrder")
async def delete_order(order_id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
    row = await _order(request, caller, order_id)
    if row.state not in FINAL_ORDER_STATES:
        raise HTTPException(409, f"the order is {row.state}; cancel it with cancelServiceOrder first")
    await asyncio.to_thread(records(request).order_deleted, order_id)
    return Response(status_code=204)


# --- cancelServiceOrder --------------------------------------------------------------------------

@router.post("/cancelServiceOrder", status_code=201, summary="Cancel a ServiceOrder")
async def cancel_order(data: CancelServiceOrderCreate, request: Request, response: Response,
                       caller: Caller = Depends(current_caller)) -> dict:
    order = await asyncio.to_thread(records(request).order, data.serviceOrder.id)
    if order is None or not caller.sees(order.tenant):
        raise HTTPException(404, f"serviceOrder.id: serviceOrder '{data.serviceOrder.id}' not found")
    if order.state in FINAL_ORDER_STATES:
        raise HTTPException(409, f"serviceOrder.id: the order is already {order.state}")
    base = request.app.state.settings.public_base
    cancel_id = secrets.token_hex(5)
    body = {**data.body(), "id": cancel_id, "href": paths.cancel_href(base, cancel_id),
            "state": TaskState.accepted.value, "@type": data.type or "CancelServiceOrder",
            "serviceOrder": {"id": order.id, "href": paths.order_href(base, order.id)}}
    tmf = records(request)
    await asyncio.to_thread(tmf.cancel_created, CancelServiceOrderRow(id=cancel_id, tenant=caller.tenant,
                                                                      order_id=order.id, body=body))
    handle = (await request.app.state.temporal()).get_workflow_handle(order_workflow_id(order.id))
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
async def list_cancels(request: Request, response: Response, caller: Caller = Depends(current_caller),
                       fields: str | None = FIELDS, offset: int = OFFSET, limit: int = LIMIT) -> list[dict]:
    rows, total = await asyncio.to_thread(records(request).cancels, None if caller.admin else caller.tenant,
                                          offset, limit)
    return page(response, [r.body for r in rows], total, fields)


@router.get("/cancelServiceOrder/{cancel_id}", summary="Retrieve a CancelServiceOrder")
async def get_cancel(cancel_id: str, request: Request, caller: Caller = Depends(current_caller),
                     fields: str | None = FIELDS) -> dict:
    row = await asyncio.to_thread(records(request).cancel, cancel_id)
    if row is None or not caller.sees(row.tenant):
        raise not_found("cancelServiceOrder", cancel_id)
    return select_fields(row.body, fields)
