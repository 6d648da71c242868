"""MCM activities: clusters created, grown, shrunk and deleted; mirrored into the inventory."""

import asyncio
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from legato.activities.base import ActivityGroup, heartbeat, maps_adapter_errors
from legato.activities.contracts import (
    ChangeNodes,
    CheckUpgrade,
    CreateCluster,
    DeleteCluster,
    DrainNodes,
    UpgradeControlPlane,
    UpgradeNodes,
    WaitDrained,
    WaitUpgraded,
)
from legato.adapters.errors import InvalidRequest, NotFound, TransientFault
from legato.adapters.mcm import MCM
from legato.inventory import Inventory
from legato.model import Cluster
from legato.model.clusters import DrainResult
from legato.model.versions import canonical_or_none, upgrade_refusal


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

    # ---- upgrades: checked, started, and waited for by reading the versions back from the cluster

    @activity.defn(name="mcm.check_upgrade")
    @maps_adapter_errors
    async def check_upgrade(self, req: CheckUpgrade) -> Cluster:
        """The cluster as it reports itself, once `version` is one allowed step from it (or is
        already its control plane's: a roll that stopped resumes with its nodes). The versions
        read are mirrored, so the inventory shows what the cluster runs."""
        cluster = await self.mcm.get_cluster(req.cluster_id)
        if cluster is None:
            raise NotFound(f"cluster {req.cluster_id} does not exist")
        if canonical_or_none(req.version) != cluster.kubernetes_version:
            offered = await self.mcm.kubernetes_versions(req.cluster_id)
            refusal = upgrade_refusal(cluster.kubernetes_version, req.version, offered)
            if refusal:
                raise InvalidRequest(f"cluster {req.cluster_id}: {refusal}")
        await self.mirror(req, f"{cluster.kubernetes_version} -> {req.version}", self.inventory.cluster_changed,
                          cluster)
        return cluster

    @activity.defn(name="mcm.upgrade_control_plane")
    @maps_adapter_errors
    async def upgrade_control_plane(self, req: UpgradeControlPlane) -> Cluster:
        cluster = await self.mcm.upgrade_control_plane(req.op_id, req.cluster_id, req.version)
        await self.mirror(req, f"control plane to {req.version}", self.inventory.cluster_changed, cluster)
        return cluster

    @activity.defn(name="mcm.upgrade_nodes")
    @maps_adapter_errors
    async def upgrade_nodes(self, req: UpgradeNodes) -> Cluster | None:
        cluster = await self.mcm.upgrade_nodes(req.op_id, req.cluster_id, req.host_ids, req.version)
        await self.mirror(req, f"{', '.join(req.host_ids)} to {req.version}",
                          self.inventory.cluster_changed if cluster else None, cluster)
        return cluster

    @activity.defn(name="mcm.wait_upgraded")
    @maps_adapter_errors
    async def wait_upgraded(self, req: WaitUpgraded) -> Cluster:
        """Polls the cluster until its control plane and these nodes report the version. A cluster
        that does not answer for a moment (its API server restarting) is asked again; past the
        deadline the wait fails with what the cluster last reported."""
        last = "no answer"
        while True:
            try:
                cluster = await self.mcm.get_cluster(req.cluster_id)
            except TransientFault as err:
                cluster, last = None, f"no answer ({err})"
            if cluster is not None:
                behind = {h: cluster.node_versions.get(h, "gone") for h in req.host_ids
                          if cluster.node_versions.get(h) != req.version}  # fmt: skip
                if cluster.kubernetes_version == req.version and not behind:
                    await self.mirror(req, f"on {req.version}", self.inventory.cluster_changed, cluster)
                    return cluster
                last = f"control plane {cluster.kubernetes_version}" + "".join(
                    f", {h} {v}" for h, v in sorted(behind.items()))
            heartbeat(last)
            if time.time() > req.deadline:
                raise ApplicationError(f"cluster {req.cluster_id} not on {req.version} in time: {last}",
                                       type="UpgradeTimeout", non_retryable=True)
            await asyncio.sleep(req.poll_seconds)
