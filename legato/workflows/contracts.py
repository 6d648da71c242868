"""Inputs of the workflows and the search attributes they carry."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributeKey

from legato.model import Cluster, ServiceSpec

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


class ScaleClusterRequest(BaseModel):
    service_id: str  # who holds the hosts: a service, or a shared cluster's pool (`pool_owner`)
    site: str
    cluster_id: str
    add_hosts: list[str] = Field(default_factory=list)
    add_count: int = Field(default=0, description="free hosts of the site to pick and add (an operator's growth); "
                           "they are reserved when picked, like any placement")
    remove_hosts: list[str] = Field(default_factory=list)
    # For removal: the operation that allocated the hosts being given back (one for all), or per host.
    allocation_op_id: str | None = None
    allocations: dict[str, str] = Field(default_factory=dict)
    # A rollback's shrink: retried until it succeeds like every undo (a permanent fault in draining
    # must not leave the hosts allocated), instead of failing as an operator's shrink does.
    undo: bool = False
    # Nodes whose pods fit on no other node: "refuse" (an operator's shrink: all or nothing), "pool"
    # (a teardown: hand them to the cluster's pool, so it completes), "keep" (a scale-in: the
    # service keeps them). An undo without a choice pools.
    stuck: Literal["refuse", "pool", "keep"] = "refuse"
    drain_seconds: float = Field(default=600, description="how long a node may take to empty before it counts "
                                 "as stuck")
    ready_poll_seconds: float = 0.2

    @property
    def on_stuck(self) -> str:
        return "pool" if self.undo and self.stuck == "refuse" else self.stuck


class ScaleClusterResult(BaseModel):
    cluster: Cluster | None = None
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list, description="drained, removed and released")
    pooled: list[str] = Field(default_factory=list, description="handed to the cluster's pool: still serving others")
    kept: list[str] = Field(default_factory=list, description="still held: their pods fit nowhere else")


from legato.workflows.entity import ServiceEntity  # noqa: E402  (entity refers to ScaleClusterRequest)

DeployRequest.model_rebuild()
