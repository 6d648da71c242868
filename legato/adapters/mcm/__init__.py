"""Multi-Cluster Manager: Kubernetes clusters on allocated hosts."""

from typing import Protocol

from legato.model import Cluster


class MCM(Protocol):
    async def list_clusters(self, site: str | None = None) -> list[Cluster]: ...

    async def get_cluster(self, cluster_id: str) -> Cluster | None: ...

    async def create_cluster(
        self, op_id: str, cluster_id: str, site: str, host_ids: list[str], owner: str
    ) -> Cluster: ...

    async def add_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster: ...

    async def remove_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster | None: ...

    async def delete_cluster(self, op_id: str, cluster_id: str) -> None:
        """Idempotent: deleting a cluster that does not exist succeeds."""
        ...
