"""What one site must provide for a set of components: reuse a cluster, grow one, or build one.

`plan_site` is the capacity model every part of placement shares: the engine asks it (through the
per-site `SitePlanner`, which caches what it derives from the site's hosts) whether a group of
components fits at a site and how; the independent checker (`check.py`) verifies its answers with
its own packing search."""

from __future__ import annotations

from dataclasses import dataclass, field

from legato.model import Component, Host, Site, SitePlan

EPS = 1e-9
"""Rounding allowance on vCPU sums (fractions of a vCPU such as 0.5 or 0.1 add up inexactly):
replicas that exactly fill a host or a node must fit."""

NOTHING = (0.0, 0, 0)  # (vCPU, memory MB, GPUs) in use where nothing is


@dataclass
class Usage:
    """What is already requested on each cluster, and the bandwidth held between sites.

    Per node where the node is known (what the WDM reported, and room a placement reserved on a
    node): a replica then needs one node with room for it, as the scheduler packs it. Per cluster
    where it is not (`unplaced`: an inventory from before nodes were recorded, or a plain
    `{cluster: (cpu, memory_mb, gpu)}` a caller passes): that only bounds the cluster's total room."""

    nodes: dict[str, dict[str, tuple[float, int, int]]] = field(default_factory=dict)  # cluster -> node -> used
    unplaced: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    links: dict[tuple[str, str], float] = field(default_factory=dict)  # sorted site pair -> Mbps held

    def get(self, cluster: str, default: tuple[float, int, int] = NOTHING) -> tuple[float, int, int]:
        """All that is requested on the cluster (per node and unplaced)."""
        parts = list(self.nodes.get(cluster, {}).values())
        if cluster in self.unplaced:
            parts.append(self.unplaced[cluster])
        if not parts:
            return default
        return (sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))

    def node(self, cluster: str, host: str) -> tuple[float, int, int]:
        return self.nodes.get(cluster, {}).get(host, NOTHING)

    def link(self, a: str, b: str) -> float:
        return self.links.get((a, b) if a <= b else (b, a), 0.0)


ClusterUsage = Usage | dict[str, tuple[float, int, int]]


def as_usage(usage: ClusterUsage) -> Usage:
    return usage if isinstance(usage, Usage) else Usage(unplaced=dict(usage))


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


def _select(replicas: list[Replica], unused: list[HostShape],
            placed: dict[str, dict[str, int]] | None = None) -> list[str] | None:
    """First fit over the hosts already chosen, else the first (plainest) unused host that fits.
    `placed` (component -> host -> replicas) receives where each replica went."""
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
            slot = [h, h.cpu - r.cpu, h.memory_mb - r.memory_mb, h.gpu - r.gpu]
            chosen.append(slot)
        if placed is not None:
            on = placed.setdefault(r.component, {})
            on[slot[0].id] = on.get(slot[0].id, 0) + 1
    return [slot[0].id for slot in chosen]


def select_hosts(replicas: list[Replica], free_hosts: list[Host]) -> list[str] | None:
    """Pick free hosts so every replica is schedulable, wasting as little special hardware as
    possible (a GPU host is the last choice for a CPU-only replica). None if they cannot fit."""
    return _select(replicas, sorted((HostShape.of(h) for h in free_hosts), key=_host_order))


@dataclass(frozen=True, slots=True)
class ClusterShape:
    id: str
    nodes: tuple[HostShape, ...]  # in host id order: the order the scheduler fills them
    cpu: float
    memory_mb: int
    gpu: int


def cluster_shape(cluster_id: str, hosts: list[str], by_id: dict[str, Host]) -> ClusterShape:
    nodes = tuple(sorted((HostShape.of(by_id[h]) for h in hosts if h in by_id), key=lambda n: n.id))
    return ClusterShape(cluster_id, nodes, sum(n.cpu for n in nodes), sum(n.memory_mb for n in nodes),
                        sum(n.gpu for n in nodes))


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
            clusters.append(cluster_shape(c.id, c.hosts, by_id))
        self.clusters = tuple(clusters)
        self.free_cpu = sum(h.cpu for h in self.free)
        self.free_memory_mb = sum(h.memory_mb for h in self.free)
        self.free_gpu = sum(h.gpu for h in self.free)
        # Distinct usable host shapes (free hosts and shared-cluster nodes): a replica that fits none
        # of them can never run here.
        self.shapes = tuple({(h.cpu, h.memory_mb, h.gpu, h.features) for h in self.free}
                            | {(n.cpu, n.memory_mb, n.gpu, n.features) for c in clusters for n in c.nodes})

    def room(self, cluster: ClusterShape, usage: Usage) -> tuple[float, int, int]:
        used = usage.get(cluster.id)
        return cluster.cpu - used[0], cluster.memory_mb - used[1], cluster.gpu - used[2]

    def plan(self, names: list[str], replicas: list[Replica], usage: ClusterUsage,
             prefer_existing: bool = True, with_nodes: bool = False) -> tuple[SitePlan | None, str]:
        """The cheapest way to host these replicas here: reuse a shared cluster as it is, else grow
        one with free hosts, else create a cluster on free hosts; or None and why not.
        `with_nodes`: the plan also says on which node each replica goes (what a reservation holds)."""
        usage = as_usage(usage)
        if prefer_existing and self.clusters:
            overflows = []
            for cluster in self.clusters:
                placed: dict[str, dict[str, int]] | None = {} if with_nodes else None
                overflow = pack_into_cluster(replicas, cluster, usage, placed)
                if not overflow:
                    return SitePlan(site=self.site, components=names, cluster=cluster.id, action="reuse",
                                    nodes=placed or {}), ""
                overflows.append((cluster, overflow, placed))
            for cluster, overflow, placed in overflows:
                extra = _select(overflow, self.free, placed)
                if extra is not None:
                    return SitePlan(site=self.site, components=names, cluster=cluster.id, add_hosts=extra,
                                    action="scale", nodes=placed or {}), ""
        hosts = _select(replicas, self.free)
        if hosts is not None:
            return SitePlan(site=self.site, components=names, add_hosts=hosts, action="create"), ""
        need_cpu = sum(r.cpu for r in replicas)
        features = sorted(set().union(*(r.features for r in replicas)))
        detail = f" with {features}" if features else ""
        return None, (f"not enough free capacity{detail}: needs {need_cpu:g} vCPU, {self.free_cpu:g} vCPU free "
                      "in hosts")


def pack_into_cluster(replicas: list[Replica], cluster: ClusterShape, usage: Usage,
                      placed: dict[str, dict[str, int]] | None = None) -> list[Replica]:
    """Place what fits on the cluster's nodes, first fit in node order as the scheduler does, each
    node's own free room counted (what runs and is reserved there); return the overflow. Usage not
    known per node (`Usage.unplaced`) bounds the cluster's total room as well."""
    free = {}
    for n in cluster.nodes:
        used = usage.node(cluster.id, n.id)
        free[n.id] = [n.cpu - used[0], n.memory_mb - used[1], n.gpu - used[2]]
    total = [cluster.cpu, cluster.memory_mb, cluster.gpu]
    used = usage.get(cluster.id)
    total = [total[0] - used[0], total[1] - used[1], total[2] - used[2]]
    overflow = []
    for r in replicas:
        if r.cpu > total[0] + EPS or r.memory_mb > total[1] or r.gpu > total[2]:
            overflow.append(r)
            continue
        node = next((n for n in cluster.nodes if r.fits(free[n.id][0], free[n.id][1], free[n.id][2], n.features)),
                    None)
        if node is None:
            overflow.append(r)
            continue
        room = free[node.id]
        room[0] -= r.cpu
        room[1] -= r.memory_mb
        room[2] -= r.gpu
        total[0] -= r.cpu
        total[1] -= r.memory_mb
        total[2] -= r.gpu
        if placed is not None:
            on = placed.setdefault(r.component, {})
            on[node.id] = on.get(node.id, 0) + 1
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
    hosts added (scale), or not at all. The plan says on which node each replica goes."""
    if not any(c.id == cluster_id for c in site.clusters):
        return None, f"cluster {cluster_id} is not at site {site.id}"
    usage = as_usage(usage)
    planner = SitePlanner(site)
    cluster = next((c for c in planner.clusters if c.id == cluster_id), None)
    if cluster is None:  # a cluster Legato created for a service: its nodes, whatever `shared` says
        c = next(c for c in site.clusters if c.id == cluster_id)
        cluster = cluster_shape(c.id, c.hosts, {h.id: h for h in site.hosts})
    names = [c.name for c in extra]
    placed: dict[str, dict[str, int]] = {}
    overflow = pack_into_cluster(replicas_of(extra), cluster, usage, placed)
    if not overflow:
        return SitePlan(site=site.id, components=names, cluster=cluster_id, action="reuse", nodes=placed), ""
    hosts = _select(overflow, planner.free, placed)
    if hosts is None:
        return None, f"cluster {cluster_id} is full and site {site.id} has no free host that fits"
    return SitePlan(site=site.id, components=names, cluster=cluster_id, add_hosts=hosts, action="scale",
                    nodes=placed), ""
