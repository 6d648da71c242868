"""Reads and writes of the inventory. Writes are idempotent upserts: activities may be retried."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.orm import defer
from sqlmodel import Session, col, delete, func, select, update

from legato.inventory import outbox
from legato.inventory.db import open_engine
from legato.inventory.federation import FederationRecords
from legato.inventory.paging import page
from legato.inventory.proposals import ProposalRecords
from legato.inventory.reservations import ReservationRecords
from legato.inventory.tables import (
    AreaRow,
    ClusterRow,
    ComponentRow,
    ConnectionRow,
    FindingRow,
    HostRow,
    LatencyRow,
    MetaRow,
    NodeClaimRow,
    OperationRow,
    ServiceOperationRow,
    ServiceRow,
    SiteRow,
    SiteVersionRow,
    utcnow,
)
from legato.model import Cluster, Host, ServiceSpec, Site, Topology, UserAreaDef
from legato.model.continuum import LatencyModel, pool_owner
from legato.model.status import TERMINAL_STATES, ServiceState

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


class Inventory(ProposalRecords, FederationRecords, ReservationRecords):
    def __init__(self, url_or_engine: str | Engine, public_url: str = DEFAULT_PUBLIC_URL):
        self.engine = open_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        self.public_url = public_url.rstrip("/")  # TMF hrefs in the events written with a change
        self._local = threading.local()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction; nested uses in one thread join the outermost, so an activity's several
        writes commit together (one transaction instead of one each)."""
        outer = getattr(self._local, "session", None)
        if outer is not None:
            yield outer
            return
        with Session(self.engine, expire_on_commit=False) as session:
            self._local.session = session
            try:
                yield session
                session.commit()
            finally:
                self._local.session = None

    # --- resources (TCRR) -------------------------------------------------------------------

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
            self._stamp([], static=True)

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

    def _stamp(self, sites, static: bool = False) -> None:
        """Bump a sequence number in the caller's transaction (an atomic UPDATE: concurrent writers
        queue on it, so numbers follow commit order) and stamp the sites it concerns."""
        key = "continuum-static" if static else "continuum-dynamic"
        with self.session() as s:
            if s.get(MetaRow, key) is None:
                s.add(MetaRow(key=key, seq=0))
                s.flush()
            s.exec(update(MetaRow).where(col(MetaRow.key) == key).values(seq=MetaRow.seq + 1))
            seq = s.exec(select(MetaRow.seq).where(MetaRow.key == key)).one()
            for site in sorted(set(sites)):
                s.merge(SiteVersionRow(site=site, seq=seq))

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
            self._stamp(sites)

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
            self._stamp(sites)

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
            self._stamp(sites)

    def hosts_released(self, host_ids: list[str]) -> None:
        with self.session() as s:
            sites = []
            for host_id in host_ids:
                row = s.get(HostRow, host_id)
                if row is not None:
                    row.state, row.service_id, row.allocation_op, row.cluster = "free", None, None, None
                    row.reservation = None
                    sites.append(row.site)
            self._stamp(sites)

    def cluster_changed(self, cluster: Cluster) -> None:
        with self.session() as s:
            s.merge(ClusterRow(**cluster.model_dump()))
            for row in s.exec(select(HostRow).where(HostRow.cluster == cluster.id)):
                if row.id not in cluster.hosts:
                    row.cluster = None
            for host_id in cluster.hosts:
                row = s.get(HostRow, host_id)
                if row is not None:
                    row.cluster = cluster.id
            self._stamp([cluster.site])

    def cluster_deleted(self, cluster_id: str) -> None:
        with self.session() as s:
            row = s.get(ClusterRow, cluster_id)
            if row is not None:
                s.delete(row)
                self._stamp([row.site])
            for host in s.exec(select(HostRow).where(HostRow.cluster == cluster_id)):
                host.cluster = None
            s.exec(delete(ComponentRow).where(col(ComponentRow.cluster) == cluster_id))
            s.exec(delete(NodeClaimRow).where(col(NodeClaimRow.cluster) == cluster_id))

    # --- workloads (TCWI) -------------------------------------------------------------------

    def service_accepted(self, spec: ServiceSpec) -> None:
        with self.session() as s:
            if s.get(ServiceRow, spec.id) is None:
                row = ServiceRow(id=spec.id, tenant=spec.tenant, name=spec.name, state=ServiceState.accepted,
                                 spec=spec.model_dump(mode="json", by_alias=True))
                s.add(row)
                outbox.service_changed(s, self.public_url, row, None)

    def service_updated(self, service_id: str, **fields) -> None:
        with self.session() as s:
            row = s.get(ServiceRow, service_id)
            if row is None:
                return
            old_state = row.state
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            s.add(row)
            outbox.service_changed(s, self.public_url, row, old_state)

    def component_deployed(self, row: ComponentRow) -> None:
        with self.session() as s:
            s.merge(row)

    def component_removed(self, service_id: str, name: str, workload_id: str | None = None) -> None:
        """Forget a component's workload; not if the row already names another one (a move wrote
        the target before removing the source)."""
        with self.session() as s:
            row = s.get(ComponentRow, (service_id, name))
            if row is not None and (workload_id is None or row.workload_id == workload_id):
                s.delete(row)
            if workload_id is not None:
                s.exec(delete(NodeClaimRow).where(col(NodeClaimRow.holder) == workload_id,
                                                  col(NodeClaimRow.state) == "running"))

    def component_changed(self, service_id: str, name: str, **fields) -> None:
        with self.session() as s:
            row = s.get(ComponentRow, (service_id, name))
            if row is not None:
                for key, value in fields.items():
                    setattr(row, key, value)
                s.add(row)

    def operation_recorded(self, row: ServiceOperationRow) -> None:
        with self.session() as s:
            s.merge(row)

    def service_operations(self, service_id: str) -> list[ServiceOperationRow]:
        with self.session() as s:
            query = select(ServiceOperationRow).where(ServiceOperationRow.service_id == service_id)
            return list(s.exec(query.order_by(col(ServiceOperationRow.started_at))))

    def service_operation(self, request_id: str) -> ServiceOperationRow | None:
        with self.session() as s:
            return s.get(ServiceOperationRow, request_id)

    def connection_made(self, row: ConnectionRow) -> None:
        with self.session() as s:
            s.merge(row)

    def connection_removed(self, connection_id: str) -> None:
        with self.session() as s:
            row = s.get(ConnectionRow, connection_id)
            if row is not None:
                s.delete(row)
            self.link_freed(connection_id)

    def log(self, service_id: str, op_id: str, step: str, outcome: str, detail: str = "") -> None:
        with self.session() as s:
            s.add(OperationRow(service_id=service_id, op_id=op_id, step=step, outcome=outcome, detail=detail))

    # --- reads for the API ------------------------------------------------------------------

    def services(self, tenant: str | None, offset: int = 0, limit: int = 100,
                 brief: bool = False) -> tuple[list[ServiceRow], int]:
        """Newest first. `brief`: without the spec, placement and endpoints (a list page needs none of
        them; they are most of a row's bytes)."""
        options = [defer(ServiceRow.spec), defer(ServiceRow.placement), defer(ServiceRow.endpoints)] if brief else []
        with self.session() as s:
            return page(s, ServiceRow, [col(ServiceRow.created_at).desc(), col(ServiceRow.id).desc()], offset, limit,
                        options, tenant=tenant)

    def service(self, service_id: str) -> ServiceRow | None:
        with self.session() as s:
            return s.get(ServiceRow, service_id)

    def component(self, service_id: str, name: str) -> ComponentRow | None:
        with self.session() as s:
            return s.get(ComponentRow, (service_id, name))

    def cluster_components(self, cluster_id: str) -> list[ComponentRow]:
        with self.session() as s:
            return list(s.exec(select(ComponentRow).where(ComponentRow.cluster == cluster_id)))

    def components(self, service_id: str) -> list[ComponentRow]:
        with self.session() as s:
            return list(s.exec(select(ComponentRow).where(ComponentRow.service_id == service_id)))

    def connections(self, service_id: str) -> list[ConnectionRow]:
        with self.session() as s:
            return list(s.exec(select(ConnectionRow).where(ConnectionRow.service_id == service_id)))

    def operations(self, service_id: str) -> list[OperationRow]:
        with self.session() as s:
            return list(
                s.exec(select(OperationRow).where(OperationRow.service_id == service_id).order_by(OperationRow.id))
            )

    def sites(self, offset: int = 0, limit: int = 100) -> tuple[list[SiteRow], int]:
        return self._page(SiteRow, offset, limit)

    def site_prices_changed(self, site_id: str, **prices: float) -> SiteRow | None:
        """Today's cost, energy price or carbon intensity of a site (a price feed or an operator);
        placement and the rebalancer read them from here. Restarting with a topology file restores
        the file's values."""
        with self.session() as s:
            row = s.get(SiteRow, site_id)
            if row is None:
                return None
            for name, value in prices.items():
                setattr(row, name, value)
            s.add(row)
            self._stamp([], static=True)  # prices order the cached index: rebuild it
            return row

    def hosts(self, offset: int = 0, limit: int = 100, site: str | None = None) -> tuple[list[HostRow], int]:
        return self._page(HostRow, offset, limit, site)

    def clusters(self, offset: int = 0, limit: int = 100, site: str | None = None) -> tuple[list[ClusterRow], int]:
        return self._page(ClusterRow, offset, limit, site)

    def _page(self, table, offset: int, limit: int, site: str | None = None):
        with self.session() as s:
            return page(s, table, [table.id], offset, limit, site=site)

    def findings_seen(self, rows: list[FindingRow]) -> None:
        """Record one scan: new findings appear, seen ones are refreshed, the rest are resolved."""
        now = utcnow()
        seen = {r.id for r in rows}
        with self.session() as s:
            for row in rows:
                old = s.get(FindingRow, row.id)
                if old is None or old.resolved_at is not None:
                    s.merge(row.model_copy(update={"first_seen": now, "last_seen": now, "resolved_at": None}))
                else:
                    old.last_seen, old.detail, old.action = now, row.detail, row.action
            for old in s.exec(select(FindingRow).where(col(FindingRow.resolved_at).is_(None))):
                if old.id not in seen:
                    old.resolved_at = now

    def findings(self, open_only: bool = True) -> list[FindingRow]:
        with self.session() as s:
            query = select(FindingRow)
            if open_only:
                query = query.where(col(FindingRow.resolved_at).is_(None))
            return list(s.exec(query.order_by(col(FindingRow.first_seen))))

    def count_services_by_state(self) -> dict[str, int]:
        with self.session() as s:
            rows = s.exec(select(ServiceRow.state, func.count()).group_by(ServiceRow.state)).all()
        return {state: count for state, count in rows}

    def operation_outcomes(self) -> list[tuple[str, str, float | None]]:
        with self.session() as s:
            query = select(ServiceOperationRow.kind, ServiceOperationRow.state, ServiceOperationRow.duration_seconds)
            return [tuple(r) for r in s.exec(query).all()]

    def active_service_ids(self) -> set[str]:
        with self.session() as s:
            return set(s.exec(select(ServiceRow.id).where(ServiceRow.state == ServiceState.active)))

    def all_components(self) -> list[ComponentRow]:
        with self.session() as s:
            return list(s.exec(select(ComponentRow)))

    def live_service_ids(self) -> set[str]:
        with self.session() as s:
            terminal = [str(x) for x in TERMINAL_STATES]
            return set(s.exec(select(ServiceRow.id).where(col(ServiceRow.state).not_in(terminal))))
