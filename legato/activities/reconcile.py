"""Reconciliation: compare the inventory with what every backend reports.

Drift on a resource Legato provably owns (a workload or connection recorded for an active
service) is marked for repair; anything else (orphans, hosts powered off by someone else) is only
reported. Nothing here changes a backend."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from legato.activities.base import ActivityGroup, maps_adapter_errors
from legato.activities.contracts import POOL_TRANSFER, PoolGiveBack, Reclaimed
from legato.adapters.registry import Adapters
from legato.inventory import Inventory
from legato.inventory.tables import FindingRow
from legato.model.operations import Finding

# A reservation younger than this is never reclaimed: its workflow may not be visible yet.
RECLAIM_AFTER_SECONDS = 30.0


class ReconcileActivities(ActivityGroup):
    def __init__(self, adapters: Adapters, inventory: Inventory):
        super().__init__(inventory)
        self.adapters = adapters

    @activity.defn(name="reconcile.scan")
    @maps_adapter_errors
    async def scan(self) -> list[Finding]:
        inv = self.inventory
        active = await self.record(inv.active_service_ids)
        live = await self.record(inv.live_service_ids)
        components = await self.record(inv.all_components)
        known_clusters = {c.id for c in (await self.record(inv.clusters, 0, 1_000_000))[0]}
        workloads = {(w.cluster, w.id): w for w in await self.adapters.wdm.list_workloads()}
        connections = {c.id for c in await self.adapters.tcm.list_connections()}
        findings: list[Finding] = []

        for row in components:
            if row.service_id not in active:
                continue  # a workflow is acting on it right now: not drift
            found = workloads.get((row.cluster, row.workload_id))
            if found is None:
                findings.append(Finding(kind="workload-missing", resource=f"{row.cluster}/{row.workload_id}",
                                        detail=f"{row.name} is gone from {row.cluster}", service_id=row.service_id,
                                        component=row.name, action="repair-requested"))
            elif found.replicas < row.replicas:
                findings.append(Finding(kind="workload-short", resource=f"{row.cluster}/{row.workload_id}",
                                        detail=f"{row.name} has {found.replicas} of {row.replicas} replicas",
                                        service_id=row.service_id, component=row.name, action="repair-requested"))
        for service_id in sorted(active):
            for conn in await self.record(inv.connections, service_id):
                if conn.id not in connections:
                    findings.append(Finding(kind="connection-missing", resource=conn.id,
                                            detail=f"{conn.kind} {conn.description} is gone", service_id=service_id,
                                            action="repair-requested"))

        recorded = {(r.cluster, r.workload_id) for r in components}
        for (cluster, workload_id), w in sorted(workloads.items()):
            if (cluster, workload_id) not in recorded and w.service_id not in live:
                findings.append(Finding(kind="orphan-workload", resource=f"{cluster}/{workload_id}",
                                        detail=f"workload of '{w.service_id}' that Legato did not record; left alone"))
        clusters = await self.adapters.mcm.list_clusters()
        await self.record(inv.cluster_versions_read, clusters)  # upgrades depend on what each cluster runs
        for cluster in clusters:
            if cluster.id not in known_clusters and cluster.service_id not in live:
                findings.append(Finding(kind="orphan-cluster", resource=cluster.id,
                                        detail=f"cluster at {cluster.site} unknown to the inventory; left alone"))
        for host in await self.adapters.pim.list_hosts():
            if host.state != "allocated":
                continue
            if host.power == "off":
                findings.append(Finding(kind="host-powered-off", resource=host.id, service_id=host.service_id,
                                        detail=f"allocated host at {host.site} is powered off; someone else did it"))
            if host.service_id and host.service_id not in live and not host.service_id.startswith("cluster-"):
                findings.append(Finding(kind="orphan-host", resource=host.id,
                                        detail=f"held for '{host.service_id}', which is not a live service"))

        await self.record(inv.findings_seen, [
            FindingRow(id=f"{f.kind}:{f.resource}", kind=f.kind, service_id=f.service_id, resource=f.resource,
                       detail=f.detail, action=f.action) for f in findings])
        return findings

    @activity.defn(name="reconcile.reclaim")
    @maps_adapter_errors
    async def reclaim(self) -> Reclaimed:
        """What nobody will give back otherwise: reservations whose workflow is gone (terminated
        from the Web UI, or failed without its compensation) are released; pooled nodes that run
        nothing are listed for give-back."""
        inv, found = self.inventory, Reclaimed()
        client = activity.client()
        for row in await self.record(inv.reservations_older_than, RECLAIM_AFTER_SECONDS):
            try:
                running = (await client.get_workflow_handle(row.workflow_id).describe()).status == (
                    WorkflowExecutionStatus.RUNNING)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                running = False
            if not running:
                await self.record(inv.release_reservation, row.op_id)
                found.reservations.append(row.op_id)
        pooled: dict[str, dict[str, str]] = {}
        for host in await self.record(inv.pooled_hosts, POOL_TRANSFER):
            pooled.setdefault(host.cluster, {})[host.id] = host.allocation_op
        clusters = {c.id: c for c in (await self.record(inv.clusters, 0, 1_000_000))[0]}
        for cluster_id, held in sorted(pooled.items()):
            busy = await self.adapters.mcm.busy_nodes(cluster_id, sorted(held))
            empty = {h: op for h, op in held.items() if not busy.get(h)}
            if empty and cluster_id in clusters:
                found.pools.append(PoolGiveBack(cluster_id=cluster_id, site=clusters[cluster_id].site,
                                                allocations=empty))
        return found
