"""ScaleCluster: grow a cluster (PIM allocate -> MCM add nodes) or shrink it, never harming anyone.

A scaling runs beside other scalings of the cluster but never during an upgrade of it: it joins
the cluster's operations first, waiting while an UpgradeCluster run holds the cluster (a node
added mid-roll would be missed by it, one removed would be drained twice), and leaves at the end.

Shrinking is make-before-break for every pod on the nodes, whoever's service it is: the nodes are
cordoned and drained (each pod's replacement is ready on another node before the pod goes), the
empty nodes removed and their hosts released. A node whose pods fit on no other node is not
evicted: a teardown hands it to the shared cluster's pool (it keeps serving; reconcile gives it
back once it runs nothing), a scale-in keeps it, an operator's shrink is refused whole."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import (
        POOL_TRANSFER,
        AllocateHosts,
        ChangeNodes,
        ClusterJoin,
        HeldHosts,
        Hold,
        PickHosts,
        ReleaseHosts,
        ReleaseReservation,
        TransferHosts,
    )
    from legato.activities.inventory import InventoryActivities
    from legato.activities.mcm import MCMActivities
    from legato.activities.pim import PIMActivities
    from legato.activities.placement import PlacementActivities
    from legato.model import Cluster
    from legato.model.clusters import ScaleClusterRequest, ScaleClusterResult
    from legato.model.continuum import pool_owner
    from legato.workflows.drain import drain
    from legato.workflows.options import PROVISION, STEP, UNDO, waiting
    from legato.workflows.progress import error_text
    from legato.workflows.saga import Saga


# The change that made a scaling join the cluster's operations (histories before it have no join).
JOINS_CLUSTER_OPERATIONS = "scale-joins-cluster-operations"


def allocation_op(workflow_id: str) -> str:
    """The op id under which a ScaleCluster run allocates its hosts (needed to give them back)."""
    return f"{workflow_id}/allocate-hosts"


def pool_transfer_op(workflow_id: str, index: int) -> str:
    """The op id under which hosts handed to a pool are held from then on (reconcile finds them)."""
    return f"{workflow_id}{POOL_TRANSFER}{index}"


@workflow.defn(name="ScaleCluster")
class ScaleCluster:
    @workflow.run
    async def run(self, req: ScaleClusterRequest) -> ScaleClusterResult:
        wid = workflow.info().workflow_id
        result = ScaleClusterResult()
        joins = workflow.patched(JOINS_CLUSTER_OPERATIONS)
        join = ClusterJoin(cluster_id=req.cluster_id, workflow_id=wid, poll_seconds=max(req.ready_poll_seconds, 1.0),
                           deadline=(workflow.now() + timedelta(seconds=req.upgrade_wait_seconds)).timestamp())
        if joins:
            await workflow.execute_activity_method(InventoryActivities.join_cluster, join,
                                                   **waiting(req.upgrade_wait_seconds))
        try:
            if req.add_hosts or req.add_count:
                result.added, result.cluster = await self._grow(req, wid)
            if req.remove_hosts:
                await self._shrink(req, wid, result)
        finally:
            if joins:
                await workflow.execute_activity_method(InventoryActivities.leave_cluster, join, **UNDO)
        return result

    async def _grow(self, req: ScaleClusterRequest, wid: str) -> tuple[list[str], Cluster]:
        saga = Saga([])
        alloc = allocation_op(wid)
        add = list(req.add_hosts)
        try:
            if req.add_count:  # picked and reserved like any placement; what allocation takes is no longer held
                hold = Hold(op_id=f"{wid}/pick", workflow_id=wid)
                saga.activity("reservation", "pick-hosts", PlacementActivities.release, ReleaseReservation(
                    op_id=hold.op_id, service_id=req.service_id, step=f"release-reservation@{req.site}"))
                add = await workflow.execute_activity_method(PlacementActivities.pick_hosts, PickHosts(
                    op_id=hold.op_id, service_id=req.service_id, step=f"pick-hosts@{req.site}", site=req.site,
                    count=req.add_count, hold=hold), **STEP)
            saga.activity("hosts", "allocate-hosts", PIMActivities.release_hosts, self._release_req(
                req, alloc, f"{wid}/undo-allocate", add))
            await workflow.execute_activity_method(PIMActivities.allocate_hosts,
                AllocateHosts(op_id=alloc, service_id=req.service_id, step=f"allocate-hosts@{req.site}",
                              site=req.site, host_ids=add),
                **PROVISION,
            )
            saga.activity("nodes", "add-nodes", MCMActivities.remove_nodes, self._nodes_req(
                req, f"{wid}/undo-add-nodes", add))
            cluster = await workflow.execute_activity_method(
                MCMActivities.add_nodes, self._nodes_req(req, f"{wid}/add-nodes", add, "add-nodes"), **PROVISION)
        except Exception as err:
            await saga.unwind()
            raise ApplicationError(f"scale-up of {req.cluster_id} failed: {error_text(err)}",
                                   type="ScaleClusterFailed", non_retryable=True) from err
        if req.add_count:
            await saga.unwind(only=lambda c: c.key == "reservation")  # nothing left in it: allocated
        return add, cluster

    async def _shrink(self, req: ScaleClusterRequest, wid: str, result: ScaleClusterResult) -> None:
        opts = UNDO if req.undo else STEP
        on_stuck = req.on_stuck
        # Only nodes still held under the allocation that added them: one given back meanwhile (an
        # operator's shrink) may be another service's node by now.
        allocations = {h: alloc for alloc, hosts in self._by_allocation(req, wid, req.remove_hosts) for h in hosts}
        held = await workflow.execute_activity_method(InventoryActivities.held_hosts, HeldHosts(
            cluster_id=req.cluster_id, allocations=allocations), **opts)
        if not held:
            return
        drained, busy = await drain(wid, req.service_id, req.site, req.cluster_id, held, partial=on_stuck != "refuse",
                                    drain_seconds=req.drain_seconds, poll_seconds=req.ready_poll_seconds, opts=opts)
        if busy and on_stuck == "refuse":
            raise ApplicationError(f"nodes {busy} of {req.cluster_id} still run pods after {req.drain_seconds:g} s; "
                                   "they stay cordoned", type="DrainTimeout", non_retryable=True)
        gone = [h for h in drained.draining if h not in busy]
        stuck = sorted(set(drained.stuck) | set(busy))
        if gone:
            result.cluster = await workflow.execute_activity_method(
                MCMActivities.remove_nodes, self._nodes_req(req, f"{wid}/remove-nodes", gone), **opts)
            for i, (alloc, hosts) in enumerate(self._by_allocation(req, wid, gone)):
                await workflow.execute_activity_method(PIMActivities.release_hosts, self._release_req(
                    req, alloc, f"{wid}/release-hosts/{i}", hosts), **UNDO)
            result.removed = gone
        if stuck and on_stuck == "pool":
            for i, (alloc, hosts) in enumerate(self._by_allocation(req, wid, stuck)):
                await workflow.execute_activity_method(PIMActivities.transfer_hosts, TransferHosts(
                    op_id=pool_transfer_op(wid, i), service_id=req.service_id, step=f"to-pool@{req.site}",
                    allocation_op_id=alloc, host_ids=hosts, owner=pool_owner(req.cluster_id)), **UNDO)
            result.pooled = stuck
        elif stuck:
            result.kept = stuck

    @staticmethod
    def _by_allocation(req: ScaleClusterRequest, wid: str, hosts: list[str]) -> list[tuple[str, list[str]]]:
        by_allocation: dict[str, list[str]] = {}
        for host in hosts:
            alloc = req.allocations.get(host) or req.allocation_op_id or allocation_op(wid)
            by_allocation.setdefault(alloc, []).append(host)
        return sorted(by_allocation.items())

    @staticmethod
    def _nodes_req(req: ScaleClusterRequest, op_id: str, hosts: list[str], verb: str = "remove-nodes") -> ChangeNodes:
        return ChangeNodes(op_id=op_id, service_id=req.service_id, step=f"{verb}@{req.site}",
                           cluster_id=req.cluster_id, host_ids=hosts)

    @staticmethod
    def _release_req(req: ScaleClusterRequest, alloc: str, op_id: str, hosts: list[str]) -> ReleaseHosts:
        return ReleaseHosts(op_id=op_id, service_id=req.service_id, step=f"release-hosts@{req.site}",
                            allocation_op_id=alloc, host_ids=hosts)
