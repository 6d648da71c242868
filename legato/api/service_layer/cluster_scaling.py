"""An operator grows a shared cluster by free hosts of its site (picked and reserved by the
ScaleCluster workflow, like any placement), or shrinks it (every pod on the nodes moves
make-before-break first; refused, with nothing changed, if they would not fit). Clusters a service
created grow and shrink with that service's own operations instead.

What is checked here reads the cluster, its nodes and its site's free-host count, never the whole
continuum; the workflow checks again under the placement lock.

A scale-in is disruptive: outside the maintenance windows of the cluster and its site it waits for
the next one (its ScaleCluster workflow starts then: a start delay, visible in the Web UI) or is
refused, as the request chooses. Growing is never held back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from legato.api.dependencies import Temporal
from legato.api.service_layer.outcomes import Conflict, NotFound, StillRunning, Unprocessable
from legato.inventory import Inventory
from legato.maintenance import MaintenanceGate, NoCommonWindow
from legato.model import Cluster
from legato.model.clusters import ScaleClusterRequest, ScaleClusterResult
from legato.model.continuum import pool_owner
from legato.model.operations import WindowWait
from legato.workflows.progress import error_text
from legato.workflows.scale_cluster import ScaleCluster


async def scale_request(inventory: Inventory, cluster_id: str, add: int,
                        remove_hosts: list[str]) -> ScaleClusterRequest:
    """What the ScaleCluster workflow is asked, once the cluster and the nodes named are checked."""
    cluster = await asyncio.to_thread(inventory.cluster, cluster_id)
    if cluster is None:
        raise NotFound(f"cluster '{cluster_id}' not found")
    if not cluster.shared:
        raise Conflict(f"cluster '{cluster_id}' belongs to service '{cluster.service_id}': scale that "
                       "service's components instead")
    if bool(add) == bool(remove_hosts):
        raise Unprocessable("give either `add` (a number of hosts) or `remove_hosts`")
    claim = await asyncio.to_thread(inventory.cluster_operation, cluster_id)
    if claim is not None:
        raise Conflict(f"cluster '{cluster_id}' is busy: an {claim.kind} ({claim.detail}, workflow "
                       f"{claim.workflow_id}) runs on it; ask again once it is over")
    if add:
        free = await asyncio.to_thread(inventory.free_host_count, cluster.site)
        if free < add:
            raise Conflict(f"site {cluster.site} has {free} free host(s), not {add}")
    nodes = {h.id: h for h in await asyncio.to_thread(inventory.hosts_of_cluster, cluster_id) if h.site == cluster.site}
    allocations: dict[str, str] = {}
    for host_id in remove_hosts:
        host = nodes.get(host_id)
        if host is None:
            raise Unprocessable(f"remove_hosts: '{host_id}' is not a node of {cluster_id}")
        if host.allocation_op is None:
            raise Conflict(f"remove_hosts: '{host_id}' was not allocated by Legato; it stays")
        if host.service_id != pool_owner(cluster_id):
            raise Conflict(f"remove_hosts: '{host_id}' was added for service '{host.service_id}', which "
                           "gives it back when it scales in or goes; it stays")
        allocations[host_id] = host.allocation_op
    return ScaleClusterRequest(service_id=pool_owner(cluster_id), site=cluster.site, cluster_id=cluster_id,
                               add_count=add, remove_hosts=remove_hosts, allocations=allocations)


class Waiting(Exception):
    """A scale-in started to run when the maintenance window opens (its workflow's start is delayed)."""

    def __init__(self, workflow_id: str, wait: WindowWait) -> None:
        super().__init__(wait.describe())
        self.workflow_id, self.wait = workflow_id, wait


async def _window(inventory: Inventory, req: ScaleClusterRequest, outside_window: str) -> WindowWait | None:
    """For a scale-in: when its windows open (None: now). Conflict if it must not wait for them."""
    if not req.remove_hosts:
        return None
    try:
        wait = await asyncio.to_thread(MaintenanceGate(inventory).check_cluster, req.cluster_id, req.site,
                                       datetime.now(UTC))
    except NoCommonWindow as never:
        raise Conflict(f"cluster {req.cluster_id} not scaled in: {never}") from None
    if wait is not None and outside_window == "refuse":
        raise Conflict(f"a scale-in of {req.cluster_id} is outside the maintenance windows ({wait.reason}); they "
                       f"next open at {wait.opens_at:%Y-%m-%d %H:%M:%S} UTC: ask again then, or with "
                       "outside_window=wait to have it wait for them")
    return wait


async def scale_shared_cluster(inventory: Inventory, temporal: Temporal, cluster_id: str, add: int,
                               remove_hosts: list[str], request_id: str, timeout: float,
                               outside_window: str = "wait") -> Cluster | None:
    """The cluster as it is once scaled; a retry with the same `request_id` is the same scaling.
    Waiting when a scale-in waits for its maintenance window."""
    req = await scale_request(inventory, cluster_id, add, remove_hosts)
    wait = await _window(inventory, req, outside_window)
    client = await temporal.client()
    workflow_id = f"cluster-{cluster_id}/scale/{request_id}"
    delay = None if wait is None else wait.opens_at - datetime.now(UTC)
    try:
        handle = await client.start_workflow(ScaleCluster.run, req, id=workflow_id, task_queue=temporal.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                             result_type=ScaleClusterResult, start_delay=delay)
    except WorkflowAlreadyStartedError:  # a retry: same outcome
        handle = client.get_workflow_handle(workflow_id, result_type=ScaleClusterResult)
    if wait is not None:
        raise Waiting(workflow_id, wait)
    try:
        return (await asyncio.wait_for(handle.result(), timeout)).cluster
    except WorkflowFailureError as err:
        raise Conflict(f"cluster {cluster_id} not scaled: {error_text(err.cause)}") from None
    except TimeoutError:
        raise StillRunning(f"still scaling; follow workflow {workflow_id} in the Temporal Web UI") from None
