"""POST /v1/clusters/{id}/scale: grow a shared cluster by free hosts of its site (picked and
reserved by the ScaleCluster workflow, like any placement), or shrink it (every pod on the nodes
moves make-before-break first; refused, with nothing changed, if they would not fit).
Clusters a service created grow and shrink with that service's own operations instead."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import Field
from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from legato.api.auth import Caller, current_caller
from legato.api.services import temporal
from legato.model import Cluster
from legato.model.clusters import ScaleClusterRequest, ScaleClusterResult
from legato.model.continuum import pool_owner
from legato.model.service import Strict
from legato.workflows.progress import error_text
from legato.workflows.scale_cluster import ScaleCluster

router = APIRouter(prefix="/v1/clusters", tags=["continuum"])


class ClusterScaleRequest(Strict):
    add: int = Field(default=0, ge=0, le=100, description="free hosts of the cluster's site to add")
    remove_hosts: list[str] = Field(default_factory=list, description="nodes to drain and give back")
    request_id: str | None = Field(default=None, max_length=200)


@router.post("/{cluster_id}/scale", response_model=Cluster | None)
async def scale_cluster(cluster_id: str, body: ClusterScaleRequest, request: Request,
                        caller: Caller = Depends(current_caller),
                        timeout: float = Query(600.0, ge=1, le=3600)) -> Cluster | None:
    if not caller.admin:
        raise HTTPException(403, "scaling a shared cluster is an operator's action")
    inventory = request.app.state.inventory
    clusters, _ = await asyncio.to_thread(inventory.clusters, 0, 100_000)
    cluster = next((c for c in clusters if c.id == cluster_id), None)
    if cluster is None:
        raise HTTPException(404, f"cluster '{cluster_id}' not found")
    if not cluster.shared:
        raise HTTPException(409, f"cluster '{cluster_id}' belongs to service '{cluster.service_id}': scale that "
                                 "service's components instead")
    if bool(body.add) == bool(body.remove_hosts):
        raise HTTPException(422, "give either `add` (a number of hosts) or `remove_hosts`")
    hosts, _ = await asyncio.to_thread(inventory.hosts, 0, 100_000, cluster.site)
    allocations: dict[str, str] = {}
    if body.add and sum(h.state == "free" for h in hosts) < body.add:
        raise HTTPException(409, f"site {cluster.site} has {sum(h.state == 'free' for h in hosts)} free host(s), "
                                 f"not {body.add}")
    for host_id in body.remove_hosts:
        host = next((h for h in hosts if h.id == host_id), None)
        if host is None or host.cluster != cluster_id:
            raise HTTPException(422, f"remove_hosts: '{host_id}' is not a node of {cluster_id}")
        if host.allocation_op is None:
            raise HTTPException(409, f"remove_hosts: '{host_id}' was not allocated by Legato; it stays")
        if host.service_id != pool_owner(cluster_id):
            raise HTTPException(409, f"remove_hosts: '{host_id}' was added for service '{host.service_id}', which "
                                     "gives it back when it scales in or goes; it stays")
        allocations[host_id] = host.allocation_op
    rid = body.request_id or uuid.uuid4().hex
    client = await temporal(request)
    workflow_id = f"cluster-{cluster_id}/scale/{rid}"
    req = ScaleClusterRequest(service_id=pool_owner(cluster_id), site=cluster.site, cluster_id=cluster_id,
                              add_count=body.add, remove_hosts=body.remove_hosts, allocations=allocations)
    try:
        handle = await client.start_workflow(ScaleCluster.run, req, id=workflow_id,
                                             task_queue=request.app.state.settings.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                             result_type=ScaleClusterResult)
    except WorkflowAlreadyStartedError:  # a retry: same outcome
        handle = client.get_workflow_handle(workflow_id, result_type=ScaleClusterResult)
    try:
        return (await asyncio.wait_for(handle.result(), timeout)).cluster
    except WorkflowFailureError as err:
        raise HTTPException(409, f"cluster {cluster_id} not scaled: {error_text(err.cause)}") from None
    except TimeoutError:
        raise HTTPException(504, f"still scaling; follow workflow {workflow_id} in the Temporal Web UI") from None
