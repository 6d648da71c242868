"""A TMF641 order's items resolved into plans, before anything starts: `add` becomes a service spec
(the catalog's template with the item's characteristics, checked against the continuum), `modify`
becomes day-2 operations on one of the caller's services, `delete` names one. Blocking (inventory
reads): run it in a thread. A field that does not hold is a `BadField` naming it as TMF does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from legato.api.auth import Caller
from legato.api.service_layer.outcomes import BadField
from legato.api.tmf.catalog import template_of
from legato.api.tmf.schemas import ServiceOrderCreate, ServiceOrderItem
from legato.federation.partners import Federation
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.inventory.tables import ServiceRow
from legato.model import ServiceSpec
from legato.model.service import slug
from legato.model.status import TERMINAL_STATES
from legato.tmf import paths, render
from legato.tmf.characteristics import InvalidCharacteristic, apply_to_template, operations
from legato.tmf.plans import ItemPlan
from legato.tmf.render import ITEM_LABEL, ORDER_LABEL, SPEC_LABEL
from legato.tmf.states import OrderState
from legato.validation import continuum_errors


@dataclass(frozen=True)
class OrderContext:
    """What resolving an order reads: the caller, the inventory, the continuum, federation, and the
    caller's view of the catalog (a specification's TMF body, None when unknown or not theirs)."""

    caller: Caller
    inventory: Inventory
    live: LiveContinuum
    federation: Federation | None
    specification: Callable[[str], dict | None]


def resolve(ctx: OrderContext, order_id: str, data: ServiceOrderCreate) -> list[ItemPlan]:
    seen: set[str] = set()
    plans = []
    for i, item in enumerate(data.serviceOrderItem):
        if item.id in seen:
            raise BadField(f"serviceOrderItem[{i}].id", f"item id '{item.id}' is used twice")
        seen.add(item.id)
        if item.action == "add":
            plans.append(_add(ctx, order_id, i, item))
        elif item.action == "modify":
            plans.append(_modify(ctx, order_id, i, item))
        elif item.action == "delete":
            row = _owned_service(ctx, item, f"serviceOrderItem[{i}]")
            plans.append(ItemPlan(id=item.id, action="delete", service_id=row.id))
        else:
            plans.append(ItemPlan(id=item.id, action="noChange", service_id=item.service.id))
    services = [p.service_id for p in plans if p.service_id and p.action != "noChange"]
    if len(set(services)) != len(services):
        dup = next(s for s in services if services.count(s) > 1)
        raise BadField("serviceOrderItem", f"service '{dup}' is the subject of more than one item")
    return plans


def order_body(base: str, order_id: str, data: ServiceOrderCreate, plans: list[ItemPlan]) -> dict:
    """The order as stored and answered: acknowledged, each `add` item naming the service it creates."""
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


def _owned_service(ctx: OrderContext, item: ServiceOrderItem, where: str) -> ServiceRow:
    if not item.service.id:
        raise BadField(f"{where}.service.id", f"required for action '{item.action}'")
    row = ctx.inventory.service(item.service.id)
    if row is None or not ctx.caller.sees(row.tenant):
        raise BadField(f"{where}.service.id", f"service '{item.service.id}' not found")
    if row.state in TERMINAL_STATES:
        raise BadField(f"{where}.service.id", f"service '{item.service.id}' is {row.state}")
    return row


def _add(ctx: OrderContext, order_id: str, i: int, item: ServiceOrderItem) -> ItemPlan:
    where = f"serviceOrderItem[{i}]"
    ref = item.service.serviceSpecification
    if ref is None:
        raise BadField(f"{where}.service.serviceSpecification", "required for action 'add'")
    body = ctx.specification(ref.id)
    if body is None:
        raise BadField(f"{where}.service.serviceSpecification.id", f"unknown serviceSpecification '{ref.id}'")
    template = template_of(body)
    name = item.service.name or template.name
    service_id = f"{slug(name)[:36].strip('-')}-{order_id}-{i}"
    try:
        spec = apply_to_template(template, [c.body() for c in item.service.serviceCharacteristic or []],
                                 f"{where}.service.serviceCharacteristic", id=service_id, tenant=ctx.caller.tenant,
                                 name=name)
    except InvalidCharacteristic as err:
        raise BadField(err.field, err.message) from None
    spec = spec.model_copy(update={"labels": {**spec.labels, ORDER_LABEL: order_id, ITEM_LABEL: item.id,
                                              SPEC_LABEL: ref.id}})
    federation = ctx.federation
    errors = continuum_errors(spec, ctx.live.facts(), federation.serving_areas() if federation else (),
                              federated=bool(federation and federation.partners))
    if errors:
        first = errors[0]
        loc = ".".join(str(p) for p in first.get("loc", [])[1:])
        raise BadField(f"{where}.service.serviceCharacteristic", f"{loc}: {first.get('msg', '')}")
    return ItemPlan(id=item.id, action="add", service_id=service_id, spec=spec)


def _modify(ctx: OrderContext, order_id: str, i: int, item: ServiceOrderItem) -> ItemPlan:
    where = f"serviceOrderItem[{i}]"
    row = _owned_service(ctx, item, where)
    sites = {c.name: c.site for c in ctx.inventory.components(row.id)}
    chars = [c.body() for c in item.service.serviceCharacteristic or []]
    try:
        ops = operations(ServiceSpec.model_validate(row.spec), sites, chars,
                         f"{where}.service.serviceCharacteristic", f"order-{order_id}/{item.id}",
                         requested_by=f"serviceOrder {order_id} item {item.id}")
    except InvalidCharacteristic as err:
        raise BadField(err.field, err.message) from None
    for op in ops:
        if op.kind == "move" and op.move.site is not None and not ctx.inventory.site_exists(op.move.site):
            raise BadField(f"{where}.service.serviceCharacteristic", f"{op.component}.site: unknown site "
                                                                     f"'{op.move.site}'")
    return ItemPlan(id=item.id, action="modify", service_id=row.id, operations=ops)
