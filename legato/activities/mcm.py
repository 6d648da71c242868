"""MCM activities: clusters created, grown, shrunk and deleted; mirrored into the inventory."""

import asyncio
import time

from temporalio import activity

from legato.activities.base import ActivityGroup, heartbeat, maps_adapter_errors
from legato.activities.contracts import ChangeNodes, CreateCluster, DeleteCluster, DrainNodes, WaitDrained
from legato.adapters.mcm import MCM
from legato.inventory import Inventory
from legato.model import Cluster
from legato.model.clusters import DrainResult


class MCMActivities(ActivityGroup):
    def __init__(self, mcm: MCM, inventory: Inventory):
        super().__init__(inventory)
        self.mcm = mcm

    @activity.defn(name="mcm.create_cluster")
    @maps_adapter_errors
    async def create_cluster(self, req: CreateCluster) -> Cluster:
        cluster = await self.mcm.create_cluster(
            req.op_id, req.cluster_id, req.site, req.host_ids, owner=req.service_id
        )
        joined = [h for h in req.host_ids if h in cluster.hosts]
        await self.mirror(req, cluster.id, self.inventory.cluster_changed, cluster, joined=joined)
        return cluster

    @activity.defn(name="mcm.add_nodes")
    @maps_adapter_errors
    async def add_nodes(self, req: ChangeNodes) -> Cluster:
        cluster = await self.mcm.add_nodes(req.op_id, req.cluster_id, req.host_ids)
        joined = [h for h in req.host_ids if h in cluster.hosts]
        await self.mirror(req, ", ".join(req.host_ids), self.inventory.cluster_changed, cluster, joined=joined)
        return cluster

    @activity.defn(name="mcm.drain_nodes")
    @maps_adapter_errors
    async def drain_nodes(self, req: DrainNodes) -> DrainResult:
        result = await self.mcm.drain_nodes(req.op_id, req.cluster_id, req.host_ids, req.partial)
        stuck = f"; stuck: {', '.join(result.stuck)}" if result.stuck else ""
        await self.mirror(req, f"draining {', '.join(result.draining) or 'nothing'}{stuck}")
        return result

    @activity.defn(name="mcm.wait_drained")
    @maps_adapter_errors
    async def wait_drained(self, req: WaitDrained) -> list[str]:
        """Polls until the nodes run nothing (their pods' replacements are ready elsewhere and the
        old ones gone); past the deadline, returns the nodes still busy instead of waiting on."""
        while True:
            busy = {h: n for h, n in (await self.mcm.busy_nodes(req.cluster_id, req.host_ids)).items() if n}
            heartbeat(f"{sum(busy.values())} pod(s) left on {len(busy)} node(s)")
            if not busy or time.time() > req.deadline:
                return sorted(busy)
            await asyncio.sleep(req.poll_seconds)

    @activity.defn(name="mcm.remove_nodes")
    @maps_adapter_errors
    async def remove_nodes(self, req: ChangeNodes) -> Cluster | None:
        cluster = await self.mcm.remove_nodes(req.op_id, req.cluster_id, req.host_ids)
        left = [h for h in req.host_ids if cluster is None or h not in cluster.hosts]
        await self.mirror(req, ", ".join(req.host_ids), self.inventory.cluster_changed if cluster else None,
                          cluster, left=left)
        return cluster

    @activity.defn(name="mcm.delete_cluster")
    @maps_adapter_errors
    async def delete_cluster(self, req: DeleteCluster) -> None:
        await self.mcm.delete_cluster(req.op_id, req.cluster_id)
        await self.mirror(req, req.cluster_id, self.inventory.cluster_deleted, req.cluster_id)
