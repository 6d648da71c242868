"""An operator moves a cluster's Kubernetes version one step up (POST /v1/clusters/{id}/upgrade):
the request is checked against the cluster as it reports itself (its `/version` and kubelets, read
through its MCM, with the releases that MCM offers) and against what runs on it, and refused before
anything changes: a version that is none, not offered, older, more than one minor up (422); an
upgrade or a scaling already running on the cluster, or a time outside the maintenance
windows of the cluster and its site (409). Then UpgradeCluster runs
(legato/workflows/upgrade_cluster.py), checking the step again under its claim on the cluster; the
answer comes once that check has passed (202, the roll under way) or, when the caller waits, once
the roll is over."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from legato.adapters.errors import AdapterError
from legato.api.dependencies import Backends, Temporal
from legato.api.service_layer.outcomes import Conflict, NotFound, Unprocessable
from legato.inventory import Inventory
from legato.maintenance import MaintenanceGate, NoCommonWindow
from legato.model.clusters import UpgradeClusterRequest, UpgradeClusterStatus
from legato.model.continuum import pool_owner
from legato.model.versions import canonical, upgrade_refusal
from legato.workflows.progress import error_text
from legato.workflows.upgrade_cluster import UpgradeCluster

CHECKED_WITHIN = 120.0  # seconds the answer waits for the workflow's own check of the step


def upgrade_workflow_id(cluster_id: str, request_id: str) -> str:
    return f"cluster-{cluster_id}/upgrade/{request_id}"


async def upgrade_request(inventory: Inventory, backends: Backends, cluster_id: str,
                          version: str) -> UpgradeClusterRequest:
    """What UpgradeCluster is asked, once the step is one its cluster's MCM allows."""
    row = await asyncio.to_thread(inventory.cluster, cluster_id)
    if row is None:
        raise NotFound(f"cluster '{cluster_id}' not found")
    try:
        target = canonical(version)
    except ValueError as err:
        raise Unprocessable(f"version: {err}") from None
    mcm = backends.adapters().mcm
    try:
        cluster = await mcm.get_cluster(cluster_id)
        offered = await mcm.kubernetes_versions(cluster_id) if cluster is not None else []
    except AdapterError as err:
        raise Conflict(f"cluster {cluster_id}: its MCM does not answer now ({err}); ask again") from None
    if cluster is None:
        raise NotFound(f"cluster '{cluster_id}' not found")
    lagging = any(v != target for v in cluster.node_versions.values())
    if not (cluster.kubernetes_version == target and lagging):  # else: a stopped roll, resumed with its nodes
        refusal = upgrade_refusal(cluster.kubernetes_version, target, offered)
        if refusal:
            raise Unprocessable(f"version: cluster {cluster_id}: {refusal}")
    return UpgradeClusterRequest(cluster_id=cluster_id, site=cluster.site, version=target,
                                 service_id=cluster.service_id or pool_owner(cluster_id))


async def _in_window(inventory: Inventory, req: UpgradeClusterRequest) -> None:
    """An upgrade drains every node: like an operator's scale-in, it runs inside the maintenance
    windows of the cluster and its site (when they have any), and is refused outside them."""
    try:
        wait = await asyncio.to_thread(MaintenanceGate(inventory).check_cluster, req.cluster_id, req.site,
                                       datetime.now(UTC))
    except NoCommonWindow as never:
        raise Conflict(f"cluster {req.cluster_id} not upgraded: {never}") from None
    if wait is not None:
        raise Conflict(f"an upgrade of {req.cluster_id} is outside the maintenance windows ({wait.reason}); they "
                       f"next open at {wait.opens_at:%Y-%m-%d %H:%M:%S} UTC: ask again then")


async def busy_with(inventory: Inventory, temporal: Temporal, cluster_id: str, workflow_id: str) -> str | None:
    """Which operation runs on the cluster now (another upgrade, a scaling: a service growing or
    shrinking it, an operator's), if any."""
    client = await temporal.client()
    claim = await asyncio.to_thread(inventory.cluster_operation, cluster_id)
    if claim is not None and claim.workflow_id != workflow_id and await _running(client.get_workflow_handle(
            claim.workflow_id)):  # fmt: skip
        return f"an {claim.kind} ({claim.detail}, workflow {claim.workflow_id})"
    for scaling in await asyncio.to_thread(inventory.cluster_scalings, cluster_id):
        if await _running(client.get_workflow_handle(scaling)):
            return f"a scaling (workflow {scaling})"
    # an operator's scale-in waiting for its maintenance window has not joined the cluster yet
    query = "WorkflowType = 'ScaleCluster' AND ExecutionStatus = 'Running'"
    async for found in client.list_workflows(query):
        if found.id.startswith(f"cluster-{cluster_id}/scale/"):
            return f"a scaling (workflow {found.id})"
    return None


async def _running(handle: WorkflowHandle) -> bool:
    try:
        return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return False


async def upgrade_cluster(inventory: Inventory, temporal: Temporal, backends: Backends, cluster_id: str,
                          version: str, request_id: str, wait: float) -> UpgradeClusterStatus:
    """The roll's progress once the step is checked (or, with `wait`, once it is over or `wait`
    seconds have passed). A retry with the same `request_id` is the same upgrade."""
    workflow_id = upgrade_workflow_id(cluster_id, request_id)
    client = await temporal.client()
    handle = client.get_workflow_handle(workflow_id, result_type=None)
    try:
        await handle.describe()  # a retry of a request already started: its progress, whatever the cluster is now
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        req = await upgrade_request(inventory, backends, cluster_id, version)
        await _in_window(inventory, req)
        busy = await busy_with(inventory, temporal, cluster_id, workflow_id)
        if busy:
            raise Conflict(f"cluster {cluster_id} is busy: {busy} runs on it; ask again once it is over") from None
        try:
            await client.start_workflow(UpgradeCluster.run, req, id=workflow_id, task_queue=temporal.task_queue,
                                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:  # the same request, raced
            pass
    return await _answer(handle, cluster_id, wait)


async def _answer(handle: WorkflowHandle, cluster_id: str, wait: float) -> UpgradeClusterStatus:
    """Once the check passed (or the roll ended, with `wait`): a refusal as 422/409, a failed roll as
    409 naming where it stopped, else the progress."""
    started = time.monotonic()
    while True:
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            try:
                await handle.result()
            except WorkflowFailureError as err:
                message = getattr(err.cause, "message", "") or error_text(err.cause)
                if getattr(err.cause, "type", "") == "UpgradeRefused":
                    raise Unprocessable(f"version: {message}") from None
                raise Conflict(message) from None
            return await handle.query(UpgradeCluster.progress)
        status = await handle.query(UpgradeCluster.progress)
        checked = any(s.name == "check" and s.state == "done" for s in status.steps)
        waited = time.monotonic() - started
        if (checked and waited >= wait) or waited > max(wait, CHECKED_WITHIN):
            return status
        await asyncio.sleep(0.2)


async def upgrade_progress(temporal: Temporal, cluster_id: str, request_id: str) -> UpgradeClusterStatus:
    client = await temporal.client()
    handle = client.get_workflow_handle(upgrade_workflow_id(cluster_id, request_id))
    try:
        return await handle.query(UpgradeCluster.progress)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"no upgrade '{request_id}' of cluster '{cluster_id}'") from None
        raise
