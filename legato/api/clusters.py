"""POST /v1/clusters/{id}/scale: an operator grows or shrinks a shared cluster
(legato/api/service_layer/cluster_scaling.py says how); POST /v1/clusters/{id}/upgrade: an operator
moves a cluster's Kubernetes version one step up (legato/api/service_layer/cluster_upgrades.py)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from legato.api.dependencies import BackendsDep, CallerDep, InventoryDep, TemporalDep
from legato.api.service_layer.cluster_scaling import Waiting, scale_shared_cluster
from legato.api.service_layer.cluster_upgrades import upgrade_cluster, upgrade_progress
from legato.model import Cluster
from legato.model.clusters import UpgradeClusterStatus
from legato.model.service import Strict

router = APIRouter(prefix="/v1/clusters", tags=["continuum"])


class ClusterScaleRequest(Strict):
    add: int = Field(default=0, ge=0, le=100, description="free hosts of the cluster's site to add")
    remove_hosts: list[str] = Field(default_factory=list, description="nodes to drain and give back")
    request_id: str | None = Field(default=None, max_length=200)
    outside_window: Literal["wait", "refuse"] = Field(
        default="wait", description="a scale-in outside the maintenance windows of the cluster and its site: wait "
        "for the next one (202), or refuse (409)")


@router.post("/{cluster_id}/scale", response_model=Cluster | None, responses={
    202: {"description": "a scale-in waiting for the maintenance windows of the cluster and its site: `state`, "
          "`detail`, `workflow_id` (its start is delayed until `opens_at`)"}})
async def scale_cluster(cluster_id: str, body: ClusterScaleRequest, caller: CallerDep, inventory: InventoryDep,
                        temporal: TemporalDep, timeout: float = Query(600.0, ge=1, le=3600)) -> Cluster | None:
    if not caller.admin:
        raise HTTPException(403, "scaling a shared cluster is an operator's action")
    try:
        return await scale_shared_cluster(inventory, temporal, cluster_id, body.add, body.remove_hosts,
                                          body.request_id or uuid.uuid4().hex, timeout, body.outside_window)
    except Waiting as waiting:  # 202: it runs when the window opens
        return JSONResponse(status_code=202, content={
            "state": "waiting", "detail": str(waiting), "workflow_id": waiting.workflow_id,
            "opens_at": waiting.wait.opens_at.isoformat()})


class ClusterUpgradeRequest(Strict):
    version: str = Field(min_length=1, max_length=40, description="the Kubernetes version to move to, e.g. v1.35.4: "
                         "the next minor or a later patch of the cluster's own, one the cluster's MCM offers")
    request_id: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9._-]+$",
                                   description="the same id again is the same upgrade (its progress)")


class ClusterUpgradeAnswer(UpgradeClusterStatus):
    request_id: str
    workflow_id: str


def _answer(status: UpgradeClusterStatus, cluster_id: str, request_id: str) -> JSONResponse:
    body = ClusterUpgradeAnswer(**status.model_dump(), request_id=request_id,
                                workflow_id=f"cluster-{cluster_id}/upgrade/{request_id}")
    return JSONResponse(status_code=202 if status.state == "running" else 200, content=body.model_dump(mode="json"))


@router.post("/{cluster_id}/upgrade", response_model=ClusterUpgradeAnswer, responses={
    202: {"description": "the step is checked and the roll is under way: its steps so far"},
    409: {"description": "another operation runs on the cluster, or the roll stopped (where, and why)"},
    422: {"description": "not a version, not offered, older than the cluster's, or more than one minor up"}})
async def upgrade(cluster_id: str, body: ClusterUpgradeRequest, caller: CallerDep, inventory: InventoryDep,
                  temporal: TemporalDep, backends: BackendsDep,
                  wait: float = Query(0.0, ge=0, le=3600, description="seconds to wait for the roll to end")):
    """The control plane first, then each node drained make-before-break and replaced: no service
    drops below its requested ready replicas. A failure stops the roll where it is; nothing is
    rolled back; the same request again resumes it."""
    if not caller.admin:
        raise HTTPException(403, "upgrading a cluster is an operator's action")
    request_id = body.request_id or uuid.uuid4().hex
    status = await upgrade_cluster(inventory, temporal, backends, cluster_id, body.version, request_id, wait)
    return _answer(status, cluster_id, request_id)


@router.get("/{cluster_id}/upgrades/{request_id}", response_model=ClusterUpgradeAnswer)
async def upgrade_status(cluster_id: str, request_id: str, caller: CallerDep, temporal: TemporalDep):
    """An upgrade's progress: its steps, its state, where it stopped if it did."""
    if not caller.admin:
        raise HTTPException(403, "a cluster's upgrades are the operator's")
    return _answer(await upgrade_progress(temporal, cluster_id, request_id), cluster_id, request_id)
