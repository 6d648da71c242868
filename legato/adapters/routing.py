"""One continuum, several backends: each call goes to the backend the topology names for the site
it concerns (a host's site, a cluster's site), so simulated and real sites mix. Listings ask each
backend and keep what belongs to the sites it serves."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

from kubernetes import client

from legato.adapters.errors import InvalidRequest, NotFound
from legato.adapters.mcm import MCM
from legato.adapters.pim import PIM
from legato.adapters.telemetry import Telemetry
from legato.adapters.wdm import WDM
from legato.model import Cluster, Host, Topology
from legato.model.clusters import DrainResult
from legato.model.telemetry import ComponentKpis, HealthReport, WorkloadToMeasure
from legato.model.workloads import ServingHistory, WorkloadMetrics, WorkloadSpec, WorkloadStatus

T = TypeVar("T")


class BySite(Generic[T]):
    def __init__(self, default: T, by_site: dict[str, T]) -> None:
        self.default, self.by_site = default, by_site

    def of(self, site: str | None) -> T:
        return self.by_site.get(site or "", self.default)

    def distinct(self) -> list[T]:
        seen: list[T] = [self.default]
        for backend in self.by_site.values():
            if all(backend is not s for s in seen):
                seen.append(backend)
        return seen


class RoutedPIM:
    def __init__(self, backends: BySite[PIM], topology: Topology) -> None:
        self.backends = backends
        self.host_site = {h.id: s.id for s in topology.sites.values() for h in s.hosts}

    async def list_hosts(self, site: str | None = None) -> list[Host]:
        if site is not None:
            return await self.backends.of(site).list_hosts(site)
        return [h for b in self.backends.distinct() for h in await b.list_hosts() if self.backends.of(h.site) is b]

    async def allocate_hosts(self, op_id: str, site: str, host_ids: list[str], owner: str) -> list[Host]:
        return await self.backends.of(site).allocate_hosts(op_id, site, host_ids, owner)

    async def release_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str]) -> list[str]:
        released: list[str] = []
        for b in self.backends.distinct():
            mine = [h for h in host_ids if self.backends.of(self.host_site.get(h)) is b]
            if mine:
                released += await b.release_hosts(op_id, allocation_op_id, mine)
        return released

    async def transfer_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str], owner: str) -> list[str]:
        moved: list[str] = []
        for b in self.backends.distinct():
            mine = [h for h in host_ids if self.backends.of(self.host_site.get(h)) is b]
            if mine:
                moved += await b.transfer_hosts(op_id, allocation_op_id, mine, owner)
        return moved


class RoutedMCM:
    """Also gives the Kubernetes WDM its cluster credentials, from whichever MCM holds the cluster."""

    def __init__(self, backends: BySite[MCM], topology: Topology) -> None:
        self.backends = backends
        self.cluster_site = {c.id: s.id for s in topology.sites.values() for c in s.clusters}

    async def backend_of(self, cluster_id: str) -> MCM:
        """The topology's clusters by their site; the others by asking the real backends (the sim
        answers for any cluster nobody else holds)."""
        if cluster_id in self.cluster_site:
            return self.backends.of(self.cluster_site[cluster_id])
        for b in self.backends.distinct()[1:]:
            if cluster_id in await b.kube_cluster_ids():  # type: ignore[attr-defined]
                return b
        return self.backends.default

    async def list_clusters(self, site: str | None = None) -> list[Cluster]:
        if site is not None:
            return await self.backends.of(site).list_clusters(site)
        return [c for b in self.backends.distinct() for c in await b.list_clusters() if self.backends.of(c.site) is b]

    async def get_cluster(self, cluster_id: str) -> Cluster | None:
        return await (await self.backend_of(cluster_id)).get_cluster(cluster_id)

    async def create_cluster(self, op_id: str, cluster_id: str, site: str, host_ids: list[str], owner: str) -> Cluster:
        return await self.backends.of(site).create_cluster(op_id, cluster_id, site, host_ids, owner)

    async def add_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster:
        return await (await self.backend_of(cluster_id)).add_nodes(op_id, cluster_id, host_ids)

    async def drain_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], partial: bool) -> DrainResult:
        return await (await self.backend_of(cluster_id)).drain_nodes(op_id, cluster_id, host_ids, partial)

    async def busy_nodes(self, cluster_id: str, host_ids: list[str]) -> dict[str, int]:
        return await (await self.backend_of(cluster_id)).busy_nodes(cluster_id, host_ids)

    async def remove_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster | None:
        return await (await self.backend_of(cluster_id)).remove_nodes(op_id, cluster_id, host_ids)

    async def kubernetes_versions(self, cluster_id: str) -> list[str]:
        return await (await self.backend_of(cluster_id)).kubernetes_versions(cluster_id)

    async def upgrade_control_plane(self, op_id: str, cluster_id: str, version: str) -> Cluster:
        return await (await self.backend_of(cluster_id)).upgrade_control_plane(op_id, cluster_id, version)

    async def upgrade_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], version: str) -> Cluster | None:
        return await (await self.backend_of(cluster_id)).upgrade_nodes(op_id, cluster_id, host_ids, version)

    async def delete_cluster(self, op_id: str, cluster_id: str) -> None:
        await (await self.backend_of(cluster_id)).delete_cluster(op_id, cluster_id)

    async def api_client(self, cluster_id: str) -> client.ApiClient:
        backend = await self.backend_of(cluster_id)
        if not hasattr(backend, "api_client"):
            raise NotFound(f"cluster {cluster_id} is not a Kubernetes cluster Legato can reach")
        return await backend.api_client(cluster_id)

    async def kube_cluster_ids(self) -> list[str]:
        real = self.backends.distinct()[1:]
        return [c for b in real for c in await b.kube_cluster_ids()]  # type: ignore[attr-defined]


class RoutedWDM:
    """Kubernetes workloads on the clusters a Kubernetes-speaking MCM holds (the topology ties
    `wdm: kubernetes` to `mcm: kwok | kubeconfig`), simulated ones elsewhere."""

    def __init__(self, sim: WDM, kubernetes: WDM, mcm: RoutedMCM) -> None:
        self.sim, self.kubernetes, self.mcm = sim, kubernetes, mcm

    async def _of(self, cluster_id: str) -> WDM:
        return self.kubernetes if hasattr(await self.mcm.backend_of(cluster_id), "api_client") else self.sim

    async def deploy(self, op_id: str, cluster_id: str, spec: WorkloadSpec) -> WorkloadStatus:
        return await (await self._of(cluster_id)).deploy(op_id, cluster_id, spec)

    async def status(self, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
        return await (await self._of(cluster_id)).status(cluster_id, workload_id)

    async def scale(self, op_id: str, cluster_id: str, workload_id: str, replicas: int,
                    prefer_nodes: list[str] | None = None) -> WorkloadStatus:
        return await (await self._of(cluster_id)).scale(op_id, cluster_id, workload_id, replicas, prefer_nodes)

    async def upgrade(self, op_id: str, cluster_id: str, workload_id: str, image: str, version: str,
                      values: dict | None = None) -> WorkloadStatus:
        return await (await self._of(cluster_id)).upgrade(op_id, cluster_id, workload_id, image, version, values)

    async def remove(self, op_id: str, cluster_id: str, workload_id: str) -> None:
        await (await self._of(cluster_id)).remove(op_id, cluster_id, workload_id)

    async def list_workloads(self, cluster_id: str | None = None) -> list[WorkloadStatus]:
        if cluster_id is not None:
            return await (await self._of(cluster_id)).list_workloads(cluster_id)
        return await self.sim.list_workloads() + await self.kubernetes.list_workloads()

    async def metrics(self, cluster_id: str, workload_id: str) -> WorkloadMetrics | None:
        return await (await self._of(cluster_id)).metrics(cluster_id, workload_id)

    async def serving_history(self, service_id: str, component: str, since: float,
                              until: float) -> ServingHistory | None:
        """The simulator's history where the component ran there; Kubernetes keeps none."""
        return await self.sim.serving_history(service_id, component, since, until)


class RoutedTelemetry:
    """Each component read from its site's source, in the order asked; health from every source,
    each keeping what belongs to the sites it serves (the sim knows every site of the topology, but
    says nothing true of one whose telemetry is Prometheus')."""

    def __init__(self, backends: BySite[Telemetry]) -> None:
        self.backends = backends

    async def components(self, deployed: list[WorkloadToMeasure], window_seconds: float) -> list[ComponentKpis]:
        if window_seconds <= 0:
            raise InvalidRequest(f"window_seconds must be > 0, got {window_seconds}")
        answers: dict[int, ComponentKpis] = {}
        for b in self.backends.distinct():
            mine = [i for i, d in enumerate(deployed) if self.backends.of(d.site) is b]
            if mine:
                for i, kpis in zip(mine, await b.components([deployed[i] for i in mine], window_seconds), strict=True):
                    answers[i] = kpis
        return [answers[i] for i in range(len(deployed))]

    async def health(self, site: str | None = None) -> HealthReport:
        if site is not None:
            return await self.backends.of(site).health(site)
        at, hosts, clusters, sites = time.time(), [], [], []
        for b in self.backends.distinct():
            report = await b.health()
            at = min(at, report.at)
            hosts += [h for h in report.hosts if self.backends.of(h.site) is b]
            clusters += [c for c in report.clusters if self.backends.of(c.site) is b]
            sites += [s for s in report.sites if self.backends.of(s.id) is b]
        return HealthReport(at=at, hosts=hosts, clusters=clusters, sites=sites)
