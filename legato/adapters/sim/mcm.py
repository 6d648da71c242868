"""MCM part of the simulated continuum: Kubernetes clusters on allocated hosts."""

from __future__ import annotations

import re
import sqlite3
import time

from pydantic import TypeAdapter

from legato.adapters.errors import CapacityExhausted, InvalidRequest
from legato.adapters.sim import rows
from legato.adapters.sim.rollout import drain
from legato.adapters.sim.store import Store, unique
from legato.model import Cluster
from legato.model.service import NAME_PATTERN

CLUSTER = TypeAdapter(Cluster)
MAYBE_CLUSTER = TypeAdapter(Cluster | None)
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
                db.execute("INSERT INTO clusters VALUES (?, ?, ?, 0, '1.31', ?)", (cluster_id, site, owner, op_id))
            db.executemany("INSERT INTO cluster_nodes VALUES (?, ?)", [(h, cluster_id) for h in new])
            return cluster(db, cluster_id)  # type: ignore[return-value]

        return await self._mutate("mcm.create_cluster", op_id, CLUSTER, act)

    async def add_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster:
        def act(db: sqlite3.Connection) -> Cluster:
            cl = rows.existing_cluster(db, cluster_id)
            new = joinable(db, cluster_id, cl["site"], cl["owner"], unique(host_ids))
            db.executemany("INSERT INTO cluster_nodes VALUES (?, ?)", [(h, cluster_id) for h in new])
            return cluster(db, cluster_id)  # type: ignore[return-value]

        return await self._mutate("mcm.add_nodes", op_id, CLUSTER, act)

    async def remove_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster | None:
        """Drain the nodes (restarting their replicas elsewhere) or refuse if they no longer fit."""

        def act(db: sqlite3.Connection) -> Cluster | None:
            if cluster(db, cluster_id) is None:
                return None
            nodes = {r["host"] for r in db.execute("SELECT host FROM cluster_nodes WHERE cluster = ?", (cluster_id,))}
            gone = [h for h in unique(host_ids) if h in nodes]
            if gone:
                try:
                    drain(db, time.time(), self._ready_delay(db), cluster_id, frozenset(gone))
                except CapacityExhausted as e:
                    raise CapacityExhausted(f"cluster {cluster_id}: cannot remove nodes {gone}: {e}") from None
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


def cluster(db: sqlite3.Connection, cluster_id: str) -> Cluster | None:
    row = db.execute("SELECT * FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
    if row is None:
        return None
    nodes = db.execute("SELECT host FROM cluster_nodes WHERE cluster = ? ORDER BY host", (cluster_id,))
    return Cluster(
        id=row["id"], site=row["site"], hosts=[n["host"] for n in nodes], shared=bool(row["shared"]),
        service_id=row["owner"], kubernetes_version=row["kubernetes_version"],
    )  # fmt: skip


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
