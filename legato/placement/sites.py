"""What one site must provide for a set of components: reuse a cluster, grow one, or build one.

`plan_site` is the capacity model every part of placement shares: the engine asks it (through the
per-site `SitePlanner`, which caches what it derives from the site's hosts) whether a group of
components fits at a site and how; the independent checker (`check.py`) verifies its answers with
its own packing search."""

from __future__ import annotations

from dataclasses import dataclass

from legato.model import Component, Host, Site, SitePlan

ClusterUsage = dict[str, tuple[float, int, int]]  # cluster -> (cpu, memory_mb, gpu) requested

EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Replica:
    component: str
    cpu: float
    memory_mb: int
    gpu: int
    features: frozenset[str]

    def fits(self, cpu: float, memory_mb: int, gpu: int, features: set[str] | frozenset[str]) -> bool:
        return (
            self.cpu <= cpu + EPS and self.memory_mb <= memory_mb and self.gpu <= gpu and self.features <= features
        )


def replicas_of(components: list[Component]) -> list[Replica]:
    out = [
        Replica(c.name, c.cpu, c.memory_mb, c.gpu, frozenset(c.features))
        for c in components
        for _ in range(c.replicas)
    ]
    # Biggest first: first-fit decreasing packs tighter and fails fast on the hard ones.
    return sorted(out, key=lambda r: (r.gpu, len(r.features), r.cpu, r.memory_mb), reverse=True)


@dataclass(frozen=True, slots=True)
class HostShape:
    """A host as packing sees it: its size and features, frozen once."""

    id: str
    cpu: float
    memory_mb: int
    gpu: int
    features: frozenset[str]

    @staticmethod
    def of(host: Host) -> HostShape:
        return HostShape(host.id, host.cpu, host.memory_mb, host.gpu, frozenset(host.features))


def _host_order(h: HostShape) -> tuple:
    # Plain hosts first: a GPU or SR-IOV host is the last choice for work that does not need it.
    return (len(h.features), h.gpu, h.cpu, h.memory_mb, h.id)


def _select(replicas: list[Replica], unused: list[HostShape]) -> list[str] | None:
    """First fit over the hosts already chosen, else the first (plainest) unused host that fits."""
    chosen: list[list] = []  # [shape, cpu_left, mem_left, gpu_left]
    unused = list(unused)
    for r in replicas:
        for slot in chosen:
            if r.fits(slot[1], slot[2], slot[3], slot[0].features):
                slot[1] -= r.cpu
                slot[2] -= r.memory_mb
                slot[3] -= r.gpu
                break
        else:
            k = next((k for k, h in enumerate(unused) if r.fits(h.cpu, h.memory_mb, h.gpu, h.features)), None)
            if k is None:
                return None
            h = unused.pop(k)
            chosen.append([h, h.cpu - r.cpu, h.memory_mb - r.memory_mb, h.gpu - r.gpu])
    return [slot[0].id for slot in chosen]


def select_hosts(replicas: list[Replica], free_hosts: list[Host]) -> list[str] | None:
    """Pick free hosts so every replica is schedulable, wasting as little special hardware as
    possible (a GPU host is the last choice for a CPU-only replica). None if they cannot fit."""
    return _select(replicas, sorted((HostShape.of(h) for h in free_hosts), key=_host_order))


@dataclass(frozen=True, slots=True)
class ClusterShape:
    id: str
    nodes: tuple[HostShape, ...]
    cpu: float
    memory_mb: int
    gpu: int


class SitePlanner:
    """Everything `plan_site` derives from one site's hosts, computed once: the free hosts in the
    order host selection wants them, and each shared cluster's nodes and total size."""

    __slots__ = ("site", "free", "clusters", "free_cpu", "free_memory_mb", "free_gpu", "shapes")

    def __init__(self, site: Site):
        self.site = site.id
        self.free = tuple(sorted((HostShape.of(h) for h in site.hosts if h.state == "free"), key=_host_order))
        by_id = {h.id: h for h in site.hosts}
        clusters = []
        for c in sorted((c for c in site.clusters if c.shared), key=lambda c: c.id):
            nodes = tuple(HostShape.of(by_id[h]) for h in c.hosts if h in by_id)
            clusters.append(ClusterShape(c.id, nodes, sum(n.cpu for n in nodes), sum(n.memory_mb for n in nodes),
                                         sum(n.gpu for n in nodes)))
        self.clusters = tuple(clusters)
        self.free_cpu = sum(h.cpu for h in self.free)
        self.free_memory_mb = sum(h.memory_mb for h in self.free)
        self.free_gpu = sum(h.gpu for h in self.free)
        # Distinct usable host shapes (free hosts and shared-cluster nodes): a replica that fits none
        # of them can never run here.
        self.shapes = tuple({(h.cpu, h.memory_mb, h.gpu, h.features) for h in self.free}
                            | {(n.cpu, n.memory_mb, n.gpu, n.features) for c in clusters for n in c.nodes})

    def room(self, cluster: ClusterShape, usage: ClusterUsage) -> tuple[float, int, int]:
        used = usage.get(cluster.id, (0.0, 0, 0))
        return cluster.cpu - used[0], cluster.memory_mb - used[1], cluster.gpu - used[2]

    def plan(self, names: list[str], replicas: list[Replica], usage: ClusterUsage,
             prefer_existing: bool = True) -> tuple[SitePlan | None, str]:
        """The cheapest way to host these replicas here: reuse a shared cluster as it is, else grow
        one with free hosts, else create a cluster on free hosts; or None and why not."""
        if prefer_existing and self.clusters:
            overflows = []
            for cluster in self.clusters:
                overflow = _pack_into_cluster(replicas, cluster.nodes, list(self.room(cluster, usage)))
                if not overflow:
                    return SitePlan(site=self.site, components=names, cluster=cluster.id, action="reuse"), ""
                overflows.append((cluster, overflow))
            for cluster, overflow in overflows:
                extra = _select(overflow, self.free)
                if extra is not None:
                    return SitePlan(site=self.site, components=names, cluster=cluster.id, add_hosts=extra,
                                    action="scale"), ""
        hosts = _select(replicas, self.free)
        if hosts is not None:
            return SitePlan(site=self.site, components=names, add_hosts=hosts, action="create"), ""
        need_cpu = sum(r.cpu for r in replicas)
        features = sorted(set().union(*(r.features for r in replicas)))
        detail = f" with {features}" if features else ""
        return None, (f"not enough free capacity{detail}: needs {need_cpu:g} vCPU, {self.free_cpu:g} vCPU free "
                      "in hosts")


def _pack_into_cluster(replicas: list[Replica], nodes: tuple[HostShape, ...], room: list[float]) -> list[Replica]:
    """Place what fits in the cluster's free room; return the overflow. Per-node usage is not in
    the inventory, so a replica needs a node able to hold it and the aggregate room to cover it."""
    overflow = []
    for r in replicas:
        node_ok = any(r.fits(n.cpu, n.memory_mb, n.gpu, n.features) for n in nodes)
        if node_ok and r.cpu <= room[0] + EPS and r.memory_mb <= room[1] and r.gpu <= room[2]:
            room[0] -= r.cpu
            room[1] -= r.memory_mb
            room[2] -= r.gpu
        else:
            overflow.append(r)
    return overflow


def plan_site(
    site: Site, components: list[Component], usage: ClusterUsage, prefer_existing: bool = True
) -> tuple[SitePlan | None, str]:
    """The cheapest way to host `components` at `site`, or None and why not."""
    return SitePlanner(site).plan([c.name for c in components], replicas_of(components), usage, prefer_existing)


def plan_growth(
    site: Site, cluster_id: str, extra: list[Component], usage: ClusterUsage
) -> tuple[SitePlan | None, str]:
    """Room for `extra` replicas on one existing cluster: fits as it is (reuse), or with these free
    hosts added (scale), or not at all."""
    if not any(c.id == cluster_id for c in site.clusters):
        return None, f"cluster {cluster_id} is not at site {site.id}"
    planner = SitePlanner(site)
    cluster = next((c for c in planner.clusters if c.id == cluster_id), None)
    if cluster is None:  # a cluster Legato created for a service: its nodes, whatever `shared` says
        c = next(c for c in site.clusters if c.id == cluster_id)
        by_id = {h.id: h for h in site.hosts}
        nodes = tuple(HostShape.of(by_id[h]) for h in c.hosts if h in by_id)
        cluster = ClusterShape(c.id, nodes, sum(n.cpu for n in nodes), sum(n.memory_mb for n in nodes),
                               sum(n.gpu for n in nodes))
    names = [c.name for c in extra]
    overflow = _pack_into_cluster(replicas_of(extra), cluster.nodes, list(planner.room(cluster, usage)))
    if not overflow:
        return SitePlan(site=site.id, components=names, cluster=cluster_id, action="reuse"), ""
    hosts = _select(overflow, planner.free)
    if hosts is None:
        return None, f"cluster {cluster_id} is full and site {site.id} has no free host that fits"
    return SitePlan(site=site.id, components=names, cluster=cluster_id, add_hosts=hosts, action="scale"), ""
