"""Reservations and claims: what makes concurrent placements see each other.

A placement decision and the reservation of what it chose are one transaction, taken under one
lock (`placement_lock`), so no two decisions, in this process or any other sharing the inventory,
ever count on the same host, node room or bandwidth. A reservation is then turned into
allocations step by step (a host allocated, a workload deployed, a link connected: each write
drops the matching reserved claim in the same transaction that records the real one), and what
is left of it is released by the deployment's compensation, at the end of the operation, or by
reconcile when the workflow that held it is gone.

Usage is read in ONE statement over the claims (reserved and running alike), so a step moving a
claim from reserved to running is seen either before or after, never as neither (PostgreSQL's
read committed gives each statement, not each transaction, its snapshot)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import col, delete, func, select, update

from legato.inventory.resources import stamp
from legato.inventory.store import Store
from legato.inventory.tables import HostRow, LinkClaimRow, MetaRow, NodeClaimRow, ReservationRow, utcnow
from legato.placement.sites import Usage

USAGE = text(
    "SELECT 'node' AS kind, cluster AS a, host AS b, SUM(replicas * cpu) AS cpu, "
    "SUM(replicas * memory_mb) AS memory_mb, SUM(replicas * gpu) AS gpu FROM node_claims GROUP BY cluster, host "
    "UNION ALL SELECT 'link', site_a, site_b, SUM(mbps), 0, 0 FROM link_claims GROUP BY site_a, site_b"
)


def site_pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


class Reservations(Store):
    """The TCRR's reservations and claims (written by the placement, PIM, WDM and TCM activities)."""

    def placement_lock(self) -> None:
        """Serialise placements across processes for the rest of the caller's transaction: an
        UPDATE of one row, the first statement of the transaction (so SQLite takes its write lock
        at once and PostgreSQL holds a row lock; reads after it see every earlier commit)."""
        with self.session() as s:
            s.exec(update(MetaRow).where(col(MetaRow.key) == "placement-lock").values(seq=MetaRow.seq + 1))

    def usage(self) -> Usage:
        """Room requested on every node (running and reserved) and bandwidth held per site pair."""
        found = Usage()
        with self.session() as s:
            for kind, a, b, cpu, memory_mb, gpu in s.connection().execute(USAGE):
                if kind == "link":
                    found.links[site_pair(a, b)] = float(cpu or 0)
                elif b is None:
                    found.unplaced[a] = (float(cpu or 0), int(memory_mb or 0), int(gpu or 0))
                else:
                    found.nodes.setdefault(a, {})[b] = (float(cpu or 0), int(memory_mb or 0), int(gpu or 0))
        return found

    def still_free(self, hosts: list[str], rooms: list[NodeClaimRow], links: list[LinkClaimRow],
                   bandwidth: Callable[[str, str], float]) -> bool:
        """Whether what a decision chose outside the lock is still free, checked in the caller's
        locked transaction: the hosts free, each node's room (its size less what runs and is
        reserved there) enough for the replicas claimed on it, each site pair's bandwidth (less
        what is held) enough for the links."""
        with self.session() as s:
            if hosts and s.exec(select(func.count()).select_from(HostRow).where(
                    col(HostRow.id).in_(hosts), HostRow.state == "free")).one() != len(set(hosts)):
                return False
            need: dict[tuple[str, str | None], list[float]] = {}
            for c in rooms:
                acc = need.setdefault((c.cluster, c.host), [0.0, 0, 0])
                acc[0] += c.replicas * c.cpu
                acc[1] += c.replicas * c.memory_mb
                acc[2] += c.replicas * c.gpu
            nodes = sorted({h for _, h in need if h is not None})
            if nodes:
                size = {r.id: (r.cpu, r.memory_mb, r.gpu) for r in s.exec(select(HostRow).where(
                    col(HostRow.id).in_(nodes)))}
                used = {(r[0], r[1]): r[2:] for r in s.exec(select(
                    NodeClaimRow.cluster, NodeClaimRow.host, func.sum(NodeClaimRow.replicas * NodeClaimRow.cpu),
                    func.sum(NodeClaimRow.replicas * NodeClaimRow.memory_mb),
                    func.sum(NodeClaimRow.replicas * NodeClaimRow.gpu)).where(
                    col(NodeClaimRow.host).in_(nodes)).group_by(NodeClaimRow.cluster, NodeClaimRow.host))}
                for (cluster, host), want in need.items():
                    if host is None or host not in size:
                        continue
                    have = used.get((cluster, host), (0, 0, 0))
                    if any(float(h or 0) + w > cap + 1e-9 for h, w, cap in zip(have, want, size[host], strict=True)):
                        return False
            pairs: dict[tuple[str, str], float] = {}
            for c in links:
                pair = site_pair(c.site_a, c.site_b)
                pairs[pair] = pairs.get(pair, 0.0) + c.mbps
            for (a, b), mbps in pairs.items():
                held = s.exec(select(func.coalesce(func.sum(LinkClaimRow.mbps), 0.0)).where(
                    LinkClaimRow.site_a == a, LinkClaimRow.site_b == b)).one()
                if float(held) + mbps > bandwidth(a, b) + 1e-9:
                    return False
            return True

    def reserve(self, op_id: str, workflow_id: str, service_id: str, hosts: list[str],
                rooms: list[NodeClaimRow], links: list[LinkClaimRow]) -> None:
        """Hold what a decision chose, in the caller's transaction (after `placement_lock`)."""
        with self.session() as s:
            s.merge(ReservationRow(op_id=op_id, workflow_id=workflow_id, service_id=service_id))
            sites = []
            for host_id in hosts:
                row = s.get(HostRow, host_id)
                if row is None or row.state != "free":  # the decision read the same transaction: a bug
                    raise RuntimeError(f"placement reserved host {host_id}, which is not free")
                row.state, row.service_id, row.reservation = "reserved", service_id, op_id
                sites.append(row.site)
            # New rows, not copies: a copy of a table model would carry the ORM state of the original.
            for claim in rooms:
                s.add(NodeClaimRow(cluster=claim.cluster, host=claim.host, service_id=service_id,
                                   component=claim.component, holder=op_id, state="reserved", replicas=claim.replicas,
                                   cpu=claim.cpu, memory_mb=claim.memory_mb, gpu=claim.gpu))
            for claim in links:
                a, b = site_pair(claim.site_a, claim.site_b)
                s.add(LinkClaimRow(site_a=a, site_b=b, service_id=service_id, holder=op_id, state="reserved",
                                   mbps=claim.mbps))
            stamp(s, sites)

    def release_reservation(self, op_id: str) -> int:
        """Give back whatever the reservation still holds (idempotent); the count of things freed."""
        with self.session() as s:
            hosts = list(s.exec(select(HostRow).where(HostRow.reservation == op_id)))
            for row in hosts:
                row.reservation = None
                if row.state == "reserved":
                    row.state, row.service_id = "free", None
            freed = len(hosts)
            for table in (NodeClaimRow, LinkClaimRow):
                freed += s.exec(delete(table).where(col(table.holder) == op_id, col(table.state) == "reserved")
                                ).rowcount or 0
            s.exec(delete(ReservationRow).where(col(ReservationRow.op_id) == op_id))
            if hosts:  # a cached continuum re-reads the sites whose hosts changed
                stamp(s, [h.site for h in hosts])
            return freed

    def reservations_older_than(self, seconds: float) -> list[ReservationRow]:
        with self.session() as s:
            cutoff = utcnow() - timedelta(seconds=seconds)
            return list(s.exec(select(ReservationRow).where(col(ReservationRow.created_at) < cutoff)))

    def reservations(self) -> list[ReservationRow]:
        with self.session() as s:
            return list(s.exec(select(ReservationRow).order_by(col(ReservationRow.created_at))))

    # --- running claims: what the backends report ---------------------------------------------

    def workload_placed(self, service_id: str, component: str, cluster: str, workload_id: str,
                        nodes: dict[str, int], replicas: int, size: tuple[float, int, int],
                        reservation: str | None = None) -> None:
        """The workload's replicas as the WDM placed them, replacing what was recorded of it; the
        room reserved for it on that cluster is now used, so the reservation's claim goes."""
        with self.session() as s:
            s.exec(delete(NodeClaimRow).where(col(NodeClaimRow.holder) == workload_id,
                                              col(NodeClaimRow.cluster) == cluster))
            if reservation is not None:
                s.exec(delete(NodeClaimRow).where(
                    col(NodeClaimRow.holder) == reservation, col(NodeClaimRow.cluster) == cluster,
                    col(NodeClaimRow.component) == component, col(NodeClaimRow.state) == "reserved"))
            cpu, memory_mb, gpu = size
            rows = [(host, n) for host, n in sorted(nodes.items()) if n > 0]
            pending = replicas - sum(n for _, n in rows)
            if pending > 0:  # not scheduled yet: they will need room on some node of the cluster
                rows.append((None, pending))
            s.add_all(NodeClaimRow(cluster=cluster, host=host, service_id=service_id, component=component,
                                   holder=workload_id, state="running", replicas=n, cpu=cpu, memory_mb=memory_mb,
                                   gpu=gpu) for host, n in rows)

    def workload_gone(self, workload_id: str) -> None:
        """A workload removed: the room it ran on, on whichever cluster."""
        with self.session() as s:
            s.exec(delete(NodeClaimRow).where(col(NodeClaimRow.holder) == workload_id,
                                              col(NodeClaimRow.state) == "running"))

    def link_held(self, connection_id: str, service_id: str, a: str, b: str, mbps: float,
                  reservation: str | None = None) -> None:
        """A link now connected holds its bandwidth; the reservation's claim on the pair goes."""
        a, b = site_pair(a, b)
        with self.session() as s:
            s.exec(delete(LinkClaimRow).where(col(LinkClaimRow.holder) == connection_id))
            if reservation is not None:
                reserved = s.exec(select(LinkClaimRow).where(
                    LinkClaimRow.holder == reservation, LinkClaimRow.site_a == a, LinkClaimRow.site_b == b,
                    LinkClaimRow.state == "reserved")).first()
                if reserved is not None:
                    left = reserved.mbps - mbps
                    if left > 1e-9:
                        reserved.mbps = left
                    else:
                        s.delete(reserved)
            if a != b and mbps > 0:
                s.add(LinkClaimRow(site_a=a, site_b=b, service_id=service_id, holder=connection_id,
                                   state="running", mbps=mbps))

    def link_freed(self, connection_id: str) -> None:
        with self.session() as s:
            s.exec(delete(LinkClaimRow).where(col(LinkClaimRow.holder) == connection_id))
