"""MCM activities: clusters created, grown, shrunk and deleted; mirrored into the inventory."""

from temporalio import activity

from legato.activities.base import ActivityGroup, maps_adapter_errors
from legato.activities.contracts import ChangeNodes, CreateCluster, DeleteCluster
from legato.adapters.mcm import MCM
from legato.inventory import Inventory
from legato.model import Cluster


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
        await self.mirror(req, cluster.id, self.inventory.cluster_changed, cluster)
        return cluster

    @activity.defn(name="mcm.add_nodes")
    @maps_adapter_errors
    async def add_nodes(self, req: ChangeNodes) -> Cluster:
        cluster = await self.mcm.add_nodes(req.op_id, req.cluster_id, req.host_ids)
        await self.mirror(req, ", ".join(req.host_ids), self.inventory.cluster_changed, cluster)
        return cluster

    @activity.defn(name="mcm.remove_nodes")
    @maps_adapter_errors
    async def remove_nodes(self, req: ChangeNodes) -> Cluster | None:
        cluster = await self.mcm.remove_nodes(req.op_id, req.cluster_id, req.host_ids)
        await self.mirror(req, ", ".join(req.host_ids), self.inventory.cluster_changed if cluster else None, cluster)
        return cluster

    @activity.defn(name="mcm.delete_cluster")
    @maps_adapter_errors
    async def delete_cluster(self, req: DeleteCluster) -> None:
        await self.mcm.delete_cluster(req.op_id, req.cluster_id)
        await self.mirror(req, req.cluster_id, self.inventory.cluster_deleted, req.cluster_id)
