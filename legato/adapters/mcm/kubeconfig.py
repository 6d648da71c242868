"""MCM over existing clusters registered by kubeconfig context (what most operators have today).

The clusters are the topology's clusters at `mcm: kubeconfig` sites, each reached through a
context of the site's kubeconfig (by default the context named like the cluster). Legato deploys
onto them but does not own them: creating clusters and changing their nodes is refused with a
clear error, so the saga rolls back instead of retrying. Counting the pods a node holds is only a
read, so `busy_nodes` answers from the cluster like any other."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from legato.adapters.errors import InvalidRequest, NotFound, TransientFault
from legato.adapters.kube import client_from_kubeconfig
from legato.adapters.mcm.nodes import busy, control_plane_version, kubelet_versions
from legato.model import Cluster, Site
from legato.model.clusters import DrainResult


class KubeconfigMCM:
    def __init__(self, sites: list[Site]) -> None:
        self.clusters = {c.id: c.model_copy(update={"site": s.id, "shared": True}) for s in sites for c in s.clusters}
        self.sites = {s.id: s for s in sites}
        self._clients: dict[str, client.ApiClient] = {}

    async def api_client(self, cluster_id: str) -> client.ApiClient:
        cluster = self.clusters.get(cluster_id)
        if cluster is None:
            raise NotFound(f"cluster {cluster_id} is not registered by kubeconfig")
        if cluster_id not in self._clients:
            cfg = self.sites[cluster.site].backend.kubeconfig
            assert cfg is not None  # the topology validates it
            context = cfg.contexts.get(cluster_id, cluster_id)
            self._clients[cluster_id] = client_from_kubeconfig(Path(cfg.path), context)
        return self._clients[cluster_id]

    async def kube_cluster_ids(self) -> list[str]:
        return sorted(self.clusters)

    async def list_clusters(self, site: str | None = None) -> list[Cluster]:
        return [await self.get_cluster(c.id) for c in self.clusters.values()  # type: ignore[misc]
                if site is None or c.site == site]  # fmt: skip

    async def get_cluster(self, cluster_id: str) -> Cluster | None:
        """The registered cluster with the versions it reports (the topology's string is not
        trusted); a cluster that does not answer now is listed with the versions left empty."""
        cluster = self.clusters.get(cluster_id)
        if cluster is None:
            return None
        try:
            api = await self.api_client(cluster_id)
            kubelets = await kubelet_versions(cluster_id, client.CoreV1Api(api), selector="")
            version = await control_plane_version(cluster_id, api)
        except (TransientFault, NotFound):
            return cluster.model_copy(update={"kubernetes_version": "", "node_versions": {}})
        return cluster.model_copy(update={"kubernetes_version": version, "node_versions": kubelets})

    def _unsupported(self, what: str, where: str) -> InvalidRequest:
        return InvalidRequest(
            f"{what}: {where} is registered by kubeconfig, so Legato cannot create clusters, change their "
            "nodes or upgrade them there; use the cluster's own tooling, or give the site an MCM that can (kwok)"
        )

    async def create_cluster(self, op_id: str, cluster_id: str, site: str, host_ids: list[str], owner: str) -> Cluster:
        raise self._unsupported(f"create cluster {cluster_id}", f"site {site}")

    async def add_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster:
        raise self._unsupported(f"add nodes {host_ids}", f"cluster {cluster_id}")

    async def drain_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], partial: bool) -> DrainResult:
        raise self._unsupported(f"drain nodes {host_ids}", f"cluster {cluster_id}")

    async def busy_nodes(self, cluster_id: str, host_ids: list[str]) -> dict[str, int]:
        """Read from the cluster (what its operator's own drain has left), as kwok's does: nodes
        not in the cluster hold 0; a cluster not registered here is NotFound."""
        return await busy(cluster_id, client.CoreV1Api(await self.api_client(cluster_id)), host_ids)

    async def remove_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster | None:
        raise self._unsupported(f"remove nodes {host_ids}", f"cluster {cluster_id}")

    async def kubernetes_versions(self, cluster_id: str) -> list[str]:
        """None: its operator upgrades it with its own tooling."""
        await self.api_client(cluster_id)  # NotFound for a cluster not registered here
        return []

    async def upgrade_control_plane(self, op_id: str, cluster_id: str, version: str) -> Cluster:
        raise self._unsupported(f"upgrade to {version}", f"cluster {cluster_id}")

    async def upgrade_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], version: str) -> Cluster | None:
        raise self._unsupported(f"upgrade nodes {host_ids}", f"cluster {cluster_id}")

    async def delete_cluster(self, op_id: str, cluster_id: str) -> None:
        if cluster_id in self.clusters:
            raise InvalidRequest(f"cluster {cluster_id} is registered by kubeconfig, not Legato's to delete")
