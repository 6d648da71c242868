"""What one site must provide for a set of components: reuse a cluster, grow one, or build one."""

from __future__ import annotations

from dataclasses import dataclass

from legato.model import Component, Host, Site, SitePlan

ClusterUsage = dict[str, tuple[float, int, int]]  # cluster -> (cpu, memory_mb, gpu) requested


@dataclass
class Replica:
    component: str
    cpu: float
    memory_mb: int
    gpu: int
    features: frozenset[str]

    def fits(self, cpu: float, memory_mb: int, gpu: int, features: set[str] | frozenset[str]) -> bool:
        return (
            self.cpu <= cpu + 1e-9 and self.memory_mb <= memory_mb and self.gpu <= gpu and self.features <= features
        )


def replicas_of(components: list[Component]) -> list[Replica]:
    out = [
        Replica(c.name, c.cpu, c.memory_mb, c.gpu, frozenset(c.features))
        for c in components
        for _ in range(c.replicas)
    ]
    # Biggest first: first-fit decreasing packs tighter and fails fast on the hard ones.
    return sorted(out, key=lambda r: (r.gpu, len(r.features), r.cpu, r.memory_mb), reverse=True)


def select_hosts(replicas: list[Replica], free_hosts: list[Host]) -> list[str] | None:
    """Pick free hosts so every replica is schedulable, wasting as little special hardware as
    possible (a GPU host is the last choice for a CPU-only replica). None if they cannot fit."""
    chosen: list[list] = []  # [host, cpu_left, mem_left, gpu_left]
    unused = sorted(free_hosts, key=lambda h: (len(h.features), h.gpu, h.cpu, h.memory_mb, h.id))
    for r in replicas:
        for slot in chosen:
            if r.fits(slot[1], slot[2], slot[3], set(slot[0].features)):
                slot[1] -= r.cpu
                slot[2] -= r.memory_mb
                slot[3] -= r.gpu
                break
        else:
            host = next((h for h in unused if r.fits(h.cpu, h.memory_mb, h.gpu, set(h.features))), None)
            if host is None:
                return None
            unused.remove(host)
            chosen.append([host, host.cpu - r.cpu, host.memory_mb - r.memory_mb, host.gpu - r.gpu])
    return [slot[0].id for slot in chosen]


def _pack_into_cluster(replicas: list[Replica], nodes: list[Host], room: list[float]) -> list[Replica]:
    """Place what fits in the cluster's free room; return the overflow. Per-node usage is not in
    the inventory, so a replica needs a node able to hold it and the aggregate room to cover it."""
    overflow = []
    for r in replicas:
        node_ok = any(r.fits(n.cpu, n.memory_mb, n.gpu, set(n.features)) for n in nodes)
        if node_ok and r.cpu <= room[0] + 1e-9 and r.memory_mb <= room[1] and r.gpu <= room[2]:
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
    names = [c.name for c in components]
    replicas = replicas_of(components)
    free = [h for h in site.hosts if h.state == "free"]
    if prefer_existing:
        for cluster in sorted((c for c in site.clusters if c.shared), key=lambda c: c.id):
            nodes = [h for h in site.hosts if h.id in cluster.hosts]
            used = usage.get(cluster.id, (0.0, 0, 0))
            room = [
                sum(n.cpu for n in nodes) - used[0],
                sum(n.memory_mb for n in nodes) - used[1],
                sum(n.gpu for n in nodes) - used[2],
            ]
            overflow = _pack_into_cluster(replicas, nodes, room)
            if not overflow:
                return SitePlan(site=site.id, components=names, cluster=cluster.id, action="reuse"), ""
            extra = select_hosts(overflow, free)
            if extra is not None:
                return (
                    SitePlan(site=site.id, components=names, cluster=cluster.id, add_hosts=extra, action="scale"),
                    "",
                )
    hosts = select_hosts(replicas, free)
    if hosts is not None:
        return SitePlan(site=site.id, components=names, add_hosts=hosts, action="create"), ""
    need_cpu = sum(r.cpu for r in replicas)
    free_cpu = sum(h.cpu for h in free)
    features = sorted(set().union(*(r.features for r in replicas)))
    detail = f" with {features}" if features else ""
    return None, f"not enough free capacity{detail}: needs {need_cpu:g} vCPU, {free_cpu:g} vCPU free in hosts"


def plan_growth(
    site: Site, cluster_id: str, extra: list[Component], usage: ClusterUsage
) -> tuple[SitePlan | None, str]:
    """Room for `extra` replicas on one existing cluster: fits as it is (reuse), or with these free
    hosts added (scale), or not at all."""
    cluster = next((c for c in site.clusters if c.id == cluster_id), None)
    if cluster is None:
        return None, f"cluster {cluster_id} is not at site {site.id}"
    nodes = [h for h in site.hosts if h.id in cluster.hosts]
    used = usage.get(cluster.id, (0.0, 0, 0))
    room = [sum(n.cpu for n in nodes) - used[0], sum(n.memory_mb for n in nodes) - used[1],
            sum(n.gpu for n in nodes) - used[2]]
    names = [c.name for c in extra]
    overflow = _pack_into_cluster(replicas_of(extra), nodes, room)
    if not overflow:
        return SitePlan(site=site.id, components=names, cluster=cluster_id, action="reuse"), ""
    hosts = select_hosts(overflow, [h for h in site.hosts if h.state == "free"])
    if hosts is None:
        return None, f"cluster {cluster_id} is full and site {site.id} has no free host that fits"
    return SitePlan(site=site.id, components=names, cluster=cluster_id, add_hosts=hosts, action="scale"), ""
