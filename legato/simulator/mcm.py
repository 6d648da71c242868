"""MCM part of the simulated continuum: Kubernetes clusters on allocated hosts."""

from __future__ import annotations

import re
import sqlite3
import time

from pydantic import TypeAdapter

from legato.adapters.errors import CapacityExhausted, InvalidRequest, TransientFault
from legato.model import Cluster
from legato.model.clusters import DrainResult
from legato.model.service import NAME_PATTERN
from legato.simulator import rows
from legato.simulator.rollout import drain, plan_drain
from legato.simulator.store import Store, unique
from legato.simulator.versions import DEFAULT_VERSION, control_plane_version, node_versions

CLUSTER = TypeAdapter(Cluster)
MAYBE_CLUSTER = TypeAdapter(Cluster | None)
DRAIN = TypeAdapter(DrainResult)
NOTHING = TypeAdapter(None)


class McmPart(Store):
    def clusters(self, site: str | None = None) -> list[Cluster]:
        with self._read() as db:
            ids = db.execute("SELECT id FROM clusters WHERE ? IS NULL OR site = ? ORDER BY id", (site, site)).fetchall()
            return [c for r in ids if (c := cluster(db, r["id"])) is not None]

    def cluster(self, cluster_id: str) -> Cluster | None:
        with self._read() as db:
            return cluster(db, cluster_id)

    async def create_cluster(self, op_id: str, cluster_id: str, site: str, host_ids: list[str], owner: str) -> Cluster:
        def act(db: sqlite3.Connection) -> Cluster:
            if not re.fullmatch(NAME_PATTERN, cluster_id):
                raise InvalidRequest(f"cluster id {cluster_id!r} is not a DNS-1123 label")
            old = db.execute("SELECT site, owner FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
            if old is not None and (old["site"], old["owner"]) != (site, owner):
                raise InvalidRequest(f"cluster {cluster_id} already exists")
            if old is None and not host_ids:
                raise InvalidRequest(f"cluster {cluster_id}: a cluster needs at least one host")
            new = joinable(db, cluster_id, site, owner, unique(host_ids))
            if old is None:
                db.execute("INSERT INTO clusters (id, site, owner, shared, kubernetes_version, created_op) "
                           "VALUES (?, ?, ?, 0, ?, ?)", (cluster_id, site, owner, DEFAULT_VERSION, op_id))
            join(db, cluster_id, new)
            return cluster(db, cluster_id)  # type: ignore[return-value]

        return await self._mutate("mcm.create_cluster", op_id, CLUSTER, act)

    async def add_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster:
        def act(db: sqlite3.Connection) -> Cluster:
            cl = rows.existing_cluster(db, cluster_id)
            new = joinable(db, cluster_id, cl["site"], cl["owner"], unique(host_ids))
            join(db, cluster_id, new)
            return cluster(db, cluster_id)  # type: ignore[return-value]

        return await self._mutate("mcm.add_nodes", op_id, CLUSTER, act)

    async def drain_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], partial: bool) -> DrainResult:
        """Cordon the nodes and start every replica on them again elsewhere, make-before-break (see
        rollout.drain); nodes whose replicas fit nowhere else stay as they were (stuck)."""

        def act(db: sqlite3.Connection) -> DrainResult:
            if cluster(db, cluster_id) is None:
                return DrainResult()
            nodes = {r["host"] for r in db.execute("SELECT host FROM cluster_nodes WHERE cluster = ?", (cluster_id,))}
            asked = [h for h in unique(host_ids) if h in nodes]
            now = time.time()
            draining, stuck = plan_drain(db, now, cluster_id, asked)
            if stuck and not partial:
                raise CapacityExhausted(f"cluster {cluster_id}: cannot remove nodes {sorted(stuck)}: "
                                        + "; ".join(f"{h}: {why}" for h, why in sorted(stuck.items())),
                                        resources=[f"host:{h}" for h in sorted(stuck)])
            db.executemany("UPDATE cluster_nodes SET cordoned = 1 WHERE host = ?", [(h,) for h in draining])
            if draining:
                drain(db, now, self._ready_delay(db), cluster_id, frozenset(draining))
            return DrainResult(draining=draining, stuck=sorted(stuck), reasons=stuck)

        return await self._mutate("mcm.drain_nodes", op_id, DRAIN, act)

    def nodes_busy(self, cluster_id: str, host_ids: list[str]) -> dict[str, int]:
        with self._read() as db:
            return rows.replicas_on(db, time.time(), cluster_id, unique(host_ids))

    async def remove_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster | None:
        """Delete nodes that run nothing; one still running a replica is refused (drain it first)."""

        def act(db: sqlite3.Connection) -> Cluster | None:
            if cluster(db, cluster_id) is None:
                return None
            nodes = {r["host"] for r in db.execute("SELECT host FROM cluster_nodes WHERE cluster = ?", (cluster_id,))}
            gone = [h for h in unique(host_ids) if h in nodes]
            busy = {h: n for h, n in rows.replicas_on(db, time.time(), cluster_id, gone).items() if n}
            if busy:
                raise TransientFault(f"cluster {cluster_id}: nodes still run replicas {busy}; their drain is "
                                     "under way (or they were never drained)")
            db.executemany("DELETE FROM cluster_nodes WHERE host = ?", [(h,) for h in gone])
            return cluster(db, cluster_id)

        return await self._mutate("mcm.remove_nodes", op_id, MAYBE_CLUSTER, act)

    async def delete_cluster(self, op_id: str, cluster_id: str) -> None:
        """Delete the cluster and every workload on it; its hosts stay allocated until PIM release."""

        def act(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT shared FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
            if row is None:
                return None
            if row["shared"]:
                raise InvalidRequest(f"cluster {cluster_id} is a shared cluster of the topology, not Legato's")
            rows.retire_replicas(db, time.time(), cluster_id)
            for table, column in (("workloads", "cluster"), ("cluster_nodes", "cluster"), ("clusters", "id")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (cluster_id,))
            return None

        return await self._mutate("mcm.delete_cluster", op_id, NOTHING, act)


def cluster(db: sqlite3.Connection, cluster_id: str, now: float | None = None) -> Cluster | None:
    """The cluster as it would answer at `now`: its nodes, and the versions its control plane and
    kubelets report (an upgrade under way shows the old ones until it is done)."""
    row = db.execute("SELECT * FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
    if row is None:
        return None
    now = time.time() if now is None else now
    nodes = node_versions(db, cluster_id, now)
    return Cluster(
        id=row["id"], site=row["site"], hosts=sorted(nodes), shared=bool(row["shared"]),
        service_id=row["owner"], kubernetes_version=control_plane_version(row, now), node_versions=nodes,
    )  # fmt: skip


def join(db: sqlite3.Connection, cluster_id: str, host_ids: list[str]) -> None:
    """New nodes run the kubelet of the control plane they join."""
    version = control_plane_version(rows.existing_cluster(db, cluster_id), time.time())
    db.executemany("INSERT INTO cluster_nodes (host, cluster, version) VALUES (?, ?, ?)",
                   [(h, cluster_id, version) for h in host_ids])


def joinable(db: sqlite3.Connection, cluster_id: str, site: str, owner: str | None, host_ids: list[str]) -> list[str]:
    """The hosts that may become nodes: allocated (to the owner, for an owned cluster), at the site,
    not in another cluster. Hosts already in this cluster are skipped, so joining is idempotent."""
    new = []
    for host_id in host_ids:
        row = db.execute(
            "SELECT h.site, h.state, h.owner, n.cluster FROM hosts h "
            "LEFT JOIN cluster_nodes n ON n.host = h.id WHERE h.id = ?",
            (host_id,),
        ).fetchone()
        if row is None or row["site"] != site:
            raise InvalidRequest(f"host {host_id} does not exist at site {site}")
        if row["cluster"] == cluster_id:
            continue
        if row["cluster"] is not None:
            raise InvalidRequest(f"host {host_id} is already a node of cluster {row['cluster']}")
        if row["state"] != "allocated" or (owner is not None and row["owner"] != owner):
            to = f" to {owner}" if owner else ""
            raise InvalidRequest(f"host {host_id} is not allocated{to}; allocate it through the PIM first")
        new.append(host_id)
    return new
