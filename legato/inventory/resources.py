"""The Telco Cloud Resource Repository's continuum: sites, areas, latencies, hosts, clusters, and
the sequence numbers a cached copy of the continuum (live.py) compares with. Written by the
activities that mirror the PIM and the MCM (and by an operator's price change); read by placement
and the API. Reservations and claims, the rest of the TCRR, are in reservations.py."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, col, delete, func, select, update

from legato.inventory.paging import page
from legato.inventory.store import Store, updated
from legato.inventory.tables import (
    AreaRow,
    ClusterRow,
    HostRow,
    LatencyRow,
    MetaRow,
    NodeClaimRow,
    SiteRow,
    SiteVersionRow,
)
from legato.model import Cluster, Host, Site, Topology, UserAreaDef
from legato.model.continuum import LatencyModel, pool_owner


def stamp(s: Session, sites, static: bool = False) -> None:
    """Bump a sequence number in the caller's transaction (an atomic UPDATE: concurrent writers
    queue on it, so numbers follow commit order) and stamp the sites it concerns."""
    key = "continuum-static" if static else "continuum-dynamic"
    if s.get(MetaRow, key) is None:
        s.add(MetaRow(key=key, seq=0))
        s.flush()
    s.exec(update(MetaRow).where(col(MetaRow.key) == key).values(seq=MetaRow.seq + 1))
    seq = s.exec(select(MetaRow.seq).where(MetaRow.key == key)).one()
    for site in sorted(set(sites)):
        s.merge(SiteVersionRow(site=site, seq=seq))


class Resources(Store):
    def load_topology(self, topology: Topology) -> None:
        """Register the continuum. Sites, areas and latencies are refreshed; hosts and clusters
        that already exist keep their allocation state (it is the backends' truth, mirrored).
        A large continuum stores its latency model and measured pairs only (see `Topology`)."""
        with self.session() as s:
            known_sites = set(s.exec(select(SiteRow.id)))
            known_hosts = set(s.exec(select(HostRow.id)))
            known_clusters = set(s.exec(select(ClusterRow.id)))
            for site in topology.sites.values():
                row = SiteRow(**site.model_dump(exclude={"hosts", "clusters", "backend"}))
                if site.id in known_sites:
                    s.merge(row)
                else:
                    s.add(row)
                s.add_all(HostRow(**h.model_dump(exclude={"state", "cluster", "service_id", "power"}))
                          for h in site.hosts if h.id not in known_hosts)
                for cluster in site.clusters:
                    if cluster.id not in known_clusters:
                        s.add(ClusterRow(**cluster.model_dump()))
            s.flush()
            for site in topology.sites.values():
                for cluster in site.clusters:
                    if cluster.id not in known_clusters:
                        for host_id in cluster.hosts:
                            row = s.get(HostRow, host_id)
                            if row is not None:
                                row.state, row.cluster = "allocated", cluster.id
            for area in topology.areas.values():
                s.merge(AreaRow(**area.model_dump()))
            pairs = {(a, b) for matrix in (topology.site_latency_ms, topology.site_bandwidth_mbps)
                     for a, row in matrix.items() for b in row if a != b}
            s.exec(delete(LatencyRow))
            s.add_all(LatencyRow(a=a, b=b, kind="site", ms=topology.latency(a, b),
                                 bandwidth_mbps=None if (bw := topology.bandwidth(a, b)) == float("inf") else bw)
                      for a, b in sorted(pairs))
            s.add_all(LatencyRow(a=area, b=site_id, kind="area", ms=ms)
                      for area, row in topology.area_latency_ms.items() for site_id, ms in row.items())
            model = topology.model.model_dump(mode="json") if topology.model else None
            s.merge(MetaRow(key="continuum-model", value=model))
            stamp(s, [], static=True)

    def topology(self) -> Topology:
        """The continuum as placement sees it now: hosts with their state, clusters with their nodes."""
        with self.session() as s:
            sites = self._sites(s)
            areas = {r.id: UserAreaDef(**r.model_dump()) for r in s.exec(select(AreaRow))}
            site_lat: dict[str, dict[str, float]] = defaultdict(dict)
            area_lat: dict[str, dict[str, float]] = defaultdict(dict)
            bandwidth: dict[str, dict[str, float]] = defaultdict(dict)
            for r in s.exec(select(LatencyRow)):
                if r.kind == "site":
                    site_lat[r.a][r.b] = r.ms
                    if r.bandwidth_mbps is not None:
                        bandwidth[r.a][r.b] = r.bandwidth_mbps
                else:
                    area_lat[r.a][r.b] = r.ms
            meta = s.get(MetaRow, "continuum-model")
        return Topology(
            sites=sites,
            areas=areas,
            site_latency_ms=dict(site_lat),
            area_latency_ms=dict(area_lat),
            site_bandwidth_mbps=dict(bandwidth),
            model=LatencyModel.model_validate(meta.value) if meta is not None and meta.value else None,
        )

    def _sites(self, s: Session, only: list[str] | None = None) -> dict[str, Site]:
        hosts: dict[str, list[Host]] = defaultdict(list)
        clusters: dict[str, list[Cluster]] = defaultdict(list)
        site_q, host_q, cluster_q = select(SiteRow), select(HostRow), select(ClusterRow)
        if only is not None:
            site_q = site_q.where(col(SiteRow.id).in_(only))
            host_q = host_q.where(col(HostRow.site).in_(only))
            cluster_q = cluster_q.where(col(ClusterRow.site).in_(only))
        for h in s.exec(host_q):
            hosts[h.site].append(Host(**h.model_dump(exclude={"allocation_op", "reservation"})))  # power: the PIM's
        for c in s.exec(cluster_q):
            clusters[c.site].append(Cluster(**c.model_dump()))
        return {r.id: Site(**r.model_dump(), hosts=hosts[r.id], clusters=clusters[r.id])
                for r in s.exec(site_q.order_by(SiteRow.id))}

    # --- what changed, for a cached copy of the continuum (placement/live.py) ------------------

    def continuum_sequence(self) -> tuple[int, int]:
        with self.session() as s:
            seqs = dict(s.exec(select(MetaRow.key, MetaRow.seq).where(
                col(MetaRow.key).in_(["continuum-static", "continuum-dynamic"]))).all())
        return seqs.get("continuum-static", 0), seqs.get("continuum-dynamic", 0)

    def sites_changed_since(self, seq: int) -> list[str]:
        with self.session() as s:
            return sorted(s.exec(select(SiteVersionRow.site).where(SiteVersionRow.seq > seq)))

    def sites_state(self, site_ids: list[str]) -> list[Site]:
        with self.session() as s:
            return list(self._sites(s, site_ids).values()) if site_ids else []

    def hosts_allocated(self, hosts: list[Host], op_id: str) -> None:
        with self.session() as s:
            sites = []
            for h in hosts:
                row = s.get(HostRow, h.id)
                if row is not None:
                    row.state, row.service_id, row.allocation_op = "allocated", h.service_id, op_id
                    row.reservation = None  # the reservation became this allocation
                    sites.append(row.site)
            stamp(s, sites)

    def hosts_taken_elsewhere(self, host_ids: list[str]) -> None:
        """The PIM refused these hosts as already allocated, by something outside Legato: mirror it,
        so no placement counts on them again (reconcile reports them)."""
        with self.session() as s:
            sites = []
            for host_id in host_ids:
                row = s.get(HostRow, host_id)
                if row is not None and row.state != "allocated":
                    row.state, row.service_id, row.allocation_op, row.reservation = "allocated", None, None, None
                    sites.append(row.site)
            stamp(s, sites)

    def pooled_hosts(self, marker: str) -> list[HostRow]:
        """Hosts a shared cluster's pool holds because a service gave them up (`marker` is in the op
        id of the handover), still nodes of that cluster."""
        with self.session() as s:
            query = select(HostRow).where(col(HostRow.allocation_op).contains(marker),
                                          col(HostRow.cluster).is_not(None))
            return list(s.exec(query))

    def hosts_held(self, cluster_id: str, allocations: dict[str, str]) -> list[str]:
        with self.session() as s:
            rows = s.exec(select(HostRow).where(col(HostRow.id).in_(list(allocations))))
            return sorted(r.id for r in rows if r.cluster == cluster_id and r.allocation_op == allocations[r.id])

    def pool_nodes(self, cluster_ids: list[str]) -> dict[str, list[str]]:
        """The nodes each cluster's own pool holds."""
        found: dict[str, list[str]] = {}
        with self.session() as s:
            owners = {pool_owner(c): c for c in cluster_ids}
            for row in s.exec(select(HostRow).where(col(HostRow.service_id).in_(list(owners))).order_by(HostRow.id)):
                found.setdefault(owners[row.service_id], []).append(row.id)
        return found

    def hosts_transferred(self, host_ids: list[str], owner: str, op_id: str) -> None:
        """Hosts handed to a shared cluster's pool: held by the pool now, under `op_id`."""
        with self.session() as s:
            sites = []
            for host_id in host_ids:
                row = s.get(HostRow, host_id)
                if row is not None:
                    row.service_id, row.allocation_op = owner, op_id
                    sites.append(row.site)
            stamp(s, sites)

    def hosts_released(self, host_ids: list[str]) -> None:
        with self.session() as s:
            sites = []
            for host_id in host_ids:
                row = s.get(HostRow, host_id)
                if row is not None:
                    row.state, row.service_id, row.allocation_op, row.cluster = "free", None, None, None
                    row.reservation = None
                    sites.append(row.site)
            stamp(s, sites)

    def cluster_changed(self, cluster: Cluster, joined: list[str] = (), left: list[str] = ()) -> None:
        """The MCM's answer to one call on the cluster: `joined` hosts became its nodes, `left` ones
        stopped being. Membership is applied as that change, never as the answer's whole list: on a
        shared cluster calls for several services overlap, and an answer (or a deduplicated retry's
        first answer) can be older than another call's already mirrored, so writing its list would
        drop the other's nodes and their holder's teardown would skip them (a host leaked). The
        cluster row is locked first so overlapping changes apply one after the other; its host list
        is then read back from the hosts' membership."""
        with self.session() as s:
            row = s.get(ClusterRow, cluster.id, with_for_update=True)
            if row is None:
                row = ClusterRow(**cluster.model_dump(exclude={"hosts"}))
                s.add(row)
            else:
                for key, value in cluster.model_dump(exclude={"id", "hosts"}).items():
                    setattr(row, key, value)
            for host_id in left:
                host = s.get(HostRow, host_id)
                if host is not None and host.cluster == cluster.id:
                    host.cluster = None
            for host_id in joined:
                host = s.get(HostRow, host_id)
                if host is not None:
                    host.cluster = cluster.id
            s.flush()
            row.hosts = sorted(s.exec(select(HostRow.id).where(HostRow.cluster == cluster.id)))
            stamp(s, [cluster.site])

    def cluster_versions_read(self, clusters: list[Cluster]) -> int:
        """The versions each cluster reports (reconcile reads them all): only the versions, never the
        membership, which each MCM call mirrors as its own change. Returns how many changed."""
        changed = 0
        with self.session() as s:
            for cluster in clusters:
                row = s.get(ClusterRow, cluster.id)
                if row is None or not cluster.kubernetes_version:
                    continue
                if (row.kubernetes_version, row.node_versions) != (cluster.kubernetes_version, cluster.node_versions):
                    row.kubernetes_version, row.node_versions = cluster.kubernetes_version, dict(cluster.node_versions)
                    changed += 1
        return changed

    def cluster_deleted(self, cluster_id: str) -> None:
        """The cluster's row, its hosts' membership and the room claimed on it (the facade also
        forgets the components that ran on it)."""
        with self.session() as s:
            row = s.get(ClusterRow, cluster_id)
            if row is not None:
                s.delete(row)
                stamp(s, [row.site])
            for host in s.exec(select(HostRow).where(HostRow.cluster == cluster_id)):
                host.cluster = None
            s.exec(delete(NodeClaimRow).where(col(NodeClaimRow.cluster) == cluster_id))

    # --- reads for the API ------------------------------------------------------------------

    def sites(self, offset: int = 0, limit: int = 100) -> tuple[list[SiteRow], int]:
        return self._page(SiteRow, offset, limit)

    def site_prices_changed(self, site_id: str, **prices: float) -> SiteRow | None:
        """Today's cost, energy price or carbon intensity of a site (a price feed or an operator);
        placement and the rebalancer read them from here. Restarting with a topology file restores
        the file's values."""
        with self.session() as s:
            row = updated(s, SiteRow, site_id, prices)
            if row is not None:
                stamp(s, [], static=True)  # prices order the cached index: rebuild it
            return row

    def hosts(self, offset: int = 0, limit: int = 100, site: str | None = None) -> tuple[list[HostRow], int]:
        return self._page(HostRow, offset, limit, site)

    def clusters(self, offset: int = 0, limit: int = 100, site: str | None = None) -> tuple[list[ClusterRow], int]:
        return self._page(ClusterRow, offset, limit, site)

    def _page(self, table, offset: int, limit: int, site: str | None = None):
        with self.session() as s:
            return page(s, table, [table.id], offset, limit, site=site)

    # --- point lookups: one row, or the rows of one cluster or site, never a whole table ---------

    def site_exists(self, site_id: str) -> bool:
        with self.session() as s:
            return s.get(SiteRow, site_id) is not None

    def cluster(self, cluster_id: str) -> ClusterRow | None:
        with self.session() as s:
            return s.get(ClusterRow, cluster_id)

    def hosts_of_cluster(self, cluster_id: str) -> list[HostRow]:
        """The cluster's nodes, by id."""
        with self.session() as s:
            return list(s.exec(select(HostRow).where(HostRow.cluster == cluster_id).order_by(HostRow.id)))

    def free_host_count(self, site_id: str) -> int:
        with self.session() as s:
            return s.exec(select(func.count()).select_from(HostRow).where(
                HostRow.site == site_id, HostRow.state == "free")).one()
