"""The TMF events outbox: an event is written in the same transaction as the change it reports,
so a change is never committed without its event, nor an event without its change."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from legato.inventory.tables import ComponentRow, HostRow, ServiceRow
from legato.inventory.tmf_tables import EventRow
from legato.tmf import render
from legato.tmf.states import service_state

RESOURCE_KEY = {"ServiceOrder": "serviceOrder", "CancelServiceOrder": "cancelServiceOrder", "Service": "service",
                "ServiceSpecification": "serviceSpecification"}
API_OF = {"ServiceOrder": "serviceOrdering", "CancelServiceOrder": "serviceOrdering",
          "Service": "serviceInventory", "ServiceSpecification": "serviceCatalog"}


def add_event(s: Session, tenant: str, event_type: str, resource: dict) -> None:
    """`event_type` such as ServiceOrderStateChangeEvent; its resource type is its prefix."""
    kind = next(k for k in sorted(RESOURCE_KEY, key=len, reverse=True) if event_type.startswith(k))
    event_id = uuid.uuid4().hex
    body = render.event(event_id, event_type, RESOURCE_KEY[kind], resource, render.now())
    s.add(EventRow(event_id=event_id, tenant=tenant, api=API_OF[kind], event_type=event_type,
                   resource_id=str(resource.get("id", "")), body=body))


def tmf_service(s: Session, base: str, row: ServiceRow) -> dict:
    components = list(s.exec(select(ComponentRow).where(ComponentRow.service_id == row.id)))
    hosts = list(s.exec(select(HostRow.id).where(HostRow.service_id == row.id)))
    return render.service(base, row, components, hosts)


def service_changed(s: Session, base: str, row: ServiceRow, old_state: str | None) -> None:
    """ServiceCreateEvent for a new service; ServiceStateChangeEvent when its TMF state changes."""
    new = service_state(row.state)
    if old_state is None:
        s.flush()
        add_event(s, row.tenant, "ServiceCreateEvent", tmf_service(s, base, row))
    elif service_state(old_state) != new:
        s.flush()
        add_event(s, row.tenant, "ServiceStateChangeEvent", tmf_service(s, base, row))
