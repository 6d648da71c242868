"""Request bodies of the TMF APIs (v4.0.0): the attributes Legato reads, typed as the specs type
them. Other attributes are kept as they are (TMF resources are extensible through `@type`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OrderItemAction = Literal["add", "modify", "delete", "noChange"]
ServiceStateType = Literal["feasibilityChecked", "designed", "reserved", "inactive", "active", "terminated"]


class Tmf(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str | None = Field(None, alias="@type")
    base_type: str | None = Field(None, alias="@baseType")
    schema_location: str | None = Field(None, alias="@schemaLocation")

    def body(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Characteristic(Tmf):
    id: str | None = None
    name: str = Field(min_length=1)
    valueType: str | None = None
    value: Any


class ServiceSpecificationRef(Tmf):
    id: str = Field(min_length=1)
    href: str | None = None
    name: str | None = None
    version: str | None = None
    referred_type: str | None = Field(None, alias="@referredType")


class ServiceRefOrValue(Tmf):
    id: str | None = None
    href: str | None = None
    name: str | None = Field(None, max_length=200)
    description: str | None = None
    category: str | None = None
    serviceType: str | None = None
    state: ServiceStateType | None = None
    serviceCharacteristic: list[Characteristic] | None = None
    serviceSpecification: ServiceSpecificationRef | None = None


class ServiceOrderItem(Tmf):
    id: str = Field(min_length=1, max_length=64)
    action: OrderItemAction
    service: ServiceRefOrValue
    quantity: int | None = Field(None, ge=1, le=1)


class Note(Tmf):
    id: str | None = None
    author: str | None = None
    date: datetime | None = None
    text: str


class RelatedParty(Tmf):
    id: str
    name: str | None = None
    role: str | None = None
    type: str = Field(alias="@type")
    referred_type: str = Field(alias="@referredType")


class OrderAttributes(Tmf):
    """What a client may set on an order, at creation and by PATCH."""

    category: str | None = None
    description: str | None = None
    externalId: str | None = None
    notificationContact: str | None = None
    priority: str | None = None
    requestedCompletionDate: datetime | None = None
    requestedStartDate: datetime | None = None
    externalReference: list[dict] | None = None
    note: list[Note] | None = None
    relatedParty: list[RelatedParty] | None = None


class ServiceOrderCreate(OrderAttributes):
    serviceOrderItem: list[ServiceOrderItem] = Field(min_length=1, max_length=100)


class ServiceOrderUpdate(OrderAttributes):
    pass


class ServiceOrderRef(Tmf):
    id: str = Field(min_length=1)
    href: str | None = None


class CancelServiceOrderCreate(Tmf):
    serviceOrder: ServiceOrderRef
    cancellationReason: str | None = None
    requestedCancellationDate: datetime | None = None


class EventSubscriptionInput(BaseModel):
    callback: str = Field(min_length=1, max_length=2000, pattern=r"^https?://\S+$",
                          description="http(s) URL the events are POSTed to")
    query: str | None = Field(None, max_length=1000, description="e.g. eventType=ServiceOrderStateChangeEvent")


class ServiceSpecificationCreate(Tmf):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    version: str | None = None
    lifecycleStatus: str | None = None
    serviceTemplate: dict = Field(description="Legato service template (ServiceSpec without id and tenant); "
                                              "its specCharacteristic is derived from it")


class ServiceSpecificationUpdate(Tmf):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    version: str | None = None
    lifecycleStatus: str | None = None
    serviceTemplate: dict | None = None
