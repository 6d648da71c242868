"""Inputs of the workflows and the search attributes they carry."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio.common import SearchAttributeKey

from legato.model import ServiceSpec
from legato.workflows.entity import ServiceEntity

SERVICE_ID = SearchAttributeKey.for_keyword("LegatoServiceId")
TENANT = SearchAttributeKey.for_keyword("LegatoTenant")
STATE = SearchAttributeKey.for_keyword("LegatoState")
SITES = SearchAttributeKey.for_keyword_list("LegatoSites")
OPERATION = SearchAttributeKey.for_keyword("LegatoOperation")  # the day-2 operation running, if any
SEARCH_ATTRIBUTES = [SERVICE_ID, TENANT, STATE, SITES, OPERATION]


def search_attribute_type(key: SearchAttributeKey) -> str:
    """The type name Temporal's CLI takes (`Keyword`, `KeywordList`)."""
    return "".join(word.capitalize() for word in key.indexed_value_type.name.split("_"))


def service_workflow_id(service_id: str) -> str:
    return f"service-{service_id}"


class DeployRequest(BaseModel):
    spec: ServiceSpec
    # Carried by continue-as-new: the entity's whole state (None on the first run).
    entity: ServiceEntity | None = None
    # False when the namespace has no Legato search attributes (upserting them would fail).
    index_search_attributes: bool = True
    ready_poll_seconds: float = 0.2



