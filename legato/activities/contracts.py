"""Inputs of the activities: what a workflow passes (all carry the step's operation id)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from legato.adapters.tcm import LinkRequest, QosRequest
from legato.adapters.wdm import WorkloadSpec
from legato.model import ServiceSpec


class Op(BaseModel):
    op_id: str
    service_id: str
    step: str


class AllocateHosts(Op):
    site: str
    host_ids: list[str]


class ReleaseHosts(Op):
    allocation_op_id: str
    host_ids: list[str]


class CreateCluster(Op):
    cluster_id: str
    site: str
    host_ids: list[str]


class ChangeNodes(Op):
    cluster_id: str
    host_ids: list[str]


class DeleteCluster(Op):
    cluster_id: str


class DeployWorkload(Op):
    cluster_id: str
    site: str
    workload: WorkloadSpec


class WaitReady(Op):
    cluster_id: str
    workload_id: str
    poll_seconds: float = 0.2


class RemoveWorkload(Op):
    cluster_id: str
    workload_id: str
    component: str


class Connect(Op):
    link: LinkRequest
    description: str


class SetQos(Op):
    qos: QosRequest
    description: str


class Disconnect(Op):
    connection_id: str
    kind: str  # link | qos


class ServiceUpdate(BaseModel):
    service_id: str
    state: str
    error: str | None = None
    placement: dict | None = None
    endpoints: list[dict] | None = None
    spec: dict | None = None


class PlaceRequest(BaseModel):
    spec: ServiceSpec
    exclude_sites: list[str] = Field(default_factory=list)
