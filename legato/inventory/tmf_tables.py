"""Tables of the TM Forum northbound APIs: catalog entries, orders, cancellations, hubs and the
events outbox. TMF bodies are kept as JSON as the API returns them; the columns are what we query."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from legato.inventory.tables import utcnow


class TenantResource(SQLModel):
    """A TMF resource a tenant creates through the API, kept whole as the body the API returns. Its
    tables add the columns they are queried by, after these. The body's column is made per table
    (`sa_type`: one Column object cannot belong to two tables), nullable as a plain Column(JSON) is."""

    id: str = Field(primary_key=True)
    tenant: str = Field(index=True)
    body: dict = Field(default_factory=dict, sa_type=JSON, nullable=True)
    created_at: datetime = Field(default_factory=utcnow)


class ServiceSpecificationRow(TenantResource, table=True):
    """A TMF633 ServiceSpecification created through the API (the shipped examples are read from
    deploy/examples and are not stored)."""

    __tablename__ = "tmf_service_specifications"


class ServiceOrderRow(TenantResource, table=True):
    __tablename__ = "tmf_service_orders"
    state: str = Field(index=True)
    version: int = 0  # of the order's workflow's last write: an older write landing late is ignored


class CancelServiceOrderRow(TenantResource, table=True):
    __tablename__ = "tmf_cancel_service_orders"
    order_id: str = Field(index=True)


class HubRow(SQLModel, table=True):
    """A listener registered with POST /hub of one API; it gets that API's events of its tenant
    written after `after_seq`."""

    __tablename__ = "tmf_hubs"
    id: str = Field(primary_key=True)
    tenant: str = Field(index=True)
    api: str  # serviceOrdering | serviceInventory | serviceCatalog
    callback: str
    query: str | None = None
    after_seq: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class EventRow(SQLModel, table=True):
    """The outbox: written in the transaction of the state change it reports."""

    __tablename__ = "tmf_events"
    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(index=True, unique=True)
    tenant: str = Field(index=True)
    api: str = Field(index=True)
    event_type: str
    resource_id: str
    body: dict = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class DeliveryRow(SQLModel, table=True):
    """An event delivered to a hub (marks, not a cursor: on PostgreSQL a lower seq may commit later)."""

    __tablename__ = "tmf_deliveries"
    hub_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    delivered_at: datetime = Field(default_factory=utcnow)
