"""POST /v1/clusters/{id}/scale: an operator grows or shrinks a shared cluster
(legato/api/service_layer/cluster_scaling.py says how)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from legato.api.dependencies import CallerDep, InventoryDep, TemporalDep
from legato.api.service_layer.cluster_scaling import Waiting, scale_shared_cluster
from legato.model import Cluster
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
