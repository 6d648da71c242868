"""MCM backend on the simulated continuum (the embedded default); the logic lives in SimContinuum."""

from __future__ import annotations

import asyncio

from legato.model import Cluster
from legato.model.clusters import DrainResult
from legato.simulator import SimContinuum


class SimMCM:
    """Kubernetes clusters of the simulated continuum."""

    def __init__(self, continuum: SimContinuum) -> None:
        self.continuum = continuum

    async def list_clusters(self, site: str | None = None) -> list[Cluster]:
        return await asyncio.to_thread(self.continuum.clusters, site)

    async def get_cluster(self, cluster_id: str) -> Cluster | None:
        return await asyncio.to_thread(self.continuum.cluster, cluster_id)

    async def create_cluster(self, op_id: str, cluster_id: str, site: str, host_ids: list[str], owner: str) -> Cluster:
        return await self.continuum.create_cluster(op_id, cluster_id, site, host_ids, owner)

    async def add_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster:
        return await self.continuum.add_nodes(op_id, cluster_id, host_ids)

    async def drain_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], partial: bool) -> DrainResult:
        return await self.continuum.drain_nodes(op_id, cluster_id, host_ids, partial)

    async def busy_nodes(self, cluster_id: str, host_ids: list[str]) -> dict[str, int]:
        return await asyncio.to_thread(self.continuum.nodes_busy, cluster_id, host_ids)

    async def remove_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster | None:
        return await self.continuum.remove_nodes(op_id, cluster_id, host_ids)

    async def kubernetes_versions(self, cluster_id: str) -> list[str]:
        return await asyncio.to_thread(self.continuum.kubernetes_versions, cluster_id)

    async def upgrade_control_plane(self, op_id: str, cluster_id: str, version: str) -> Cluster:
        return await self.continuum.upgrade_control_plane(op_id, cluster_id, version)

    async def upgrade_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], version: str) -> Cluster | None:
        return await self.continuum.upgrade_nodes(op_id, cluster_id, host_ids, version)

    async def delete_cluster(self, op_id: str, cluster_id: str) -> None:
        await self.continuum.delete_cluster(op_id, cluster_id)
