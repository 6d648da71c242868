"""POST /v1/clusters/{id}/scale: an operator grows or shrinks a shared cluster
(legato/api/service_layer/cluster_scaling.py says how)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Query
from pydantic import Field

from legato.api.dependencies import CallerDep, InventoryDep, TemporalDep
from legato.api.service_layer.cluster_scaling import scale_shared_cluster
from legato.model import Cluster
from legato.model.service import Strict

router = APIRouter(prefix="/v1/clusters", tags=["continuum"])


class ClusterScaleRequest(Strict):
    add: int = Field(default=0, ge=0, le=100, description="free hosts of the cluster's site to add")
    remove_hosts: list[str] = Field(default_factory=list, description="nodes to drain and give back")
    request_id: str | None = Field(default=None, max_length=200)


@router.post("/{cluster_id}/scale", response_model=Cluster | None)
async def scale_cluster(cluster_id: str, body: ClusterScaleRequest, caller: CallerDep, inventory: InventoryDep,
                        temporal: TemporalDep, timeout: float = Query(600.0, ge=1, le=3600)) -> Cluster | None:
    if not caller.admin:
        raise HTTPException(403, "scaling a shared cluster is an operator's action")
    return await scale_shared_cluster(inventory, temporal, cluster_id, body.add, body.remove_hosts,
                                      body.request_id or uuid.uuid4().hex, timeout)
