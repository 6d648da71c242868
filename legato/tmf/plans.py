"""What the API hands the ServiceOrder workflow (a plan resolved and validated at the door, so the
workflow never meets a malformed order), and what the workflow and its activities exchange."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from legato.model import ServiceSpec
from legato.model.operations import Operation

NOTE_AUTHOR = "legato"


class ItemPlan(BaseModel):
    id: str
    action: Literal["add", "modify", "delete", "noChange"]
    service_id: str | None = None
    spec: ServiceSpec | None = None  # add: the template with the order's characteristics applied
    operations: list[Operation] = Field(default_factory=list)  # modify: day-2 operations, in order


class OrderPlan(BaseModel):
    order_id: str
    tenant: str
    body: dict  # the ServiceOrder as acknowledged (the workflow re-inserts it if the API died first)
    items: list[ItemPlan]
    requested_start: datetime | None = None
    index_search_attributes: bool = True


class Note(BaseModel):
    text: str
    date: str


class OrderChange(BaseModel):
    order_id: str
    version: int
    state: str
    items: dict[str, str]
    notes: list[Note] = Field(default_factory=list)
    fields: dict = Field(default_factory=dict)


class CancelChange(BaseModel):
    cancel_id: str
    state: str
    fields: dict = Field(default_factory=dict)


class CancelRequest(BaseModel):
    cancel_id: str
    reason: str | None = None


class ServiceSnapshot(BaseModel):
    spec: ServiceSpec
    sites: dict[str, str]
    state: str


class OperateCall(BaseModel):
    service_id: str
    operation: Operation


class Outcome(BaseModel):
    """How a service operation ended: for operate, the OperationRecord's state (or `busy` when
    another operation runs); for deploy/terminate, the service's state; `absent` if no such service."""

    state: str
    detail: str = ""
