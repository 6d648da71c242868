"""MCM upgrades in the simulated continuum: a control plane moved to a new release, then drained
nodes replaced by nodes of that release, each taking simulated time (`set_upgrade_time`).

The rules are the contract's (legato/adapters/mcm/__init__.py): one allowed step at a time, the
control plane first, a node replaced only once it runs nothing. What a replaced node ran was moved
off it by the drain before, so an upgrade never stops a replica by itself."""

from __future__ import annotations

import sqlite3
import time

from pydantic import TypeAdapter

from legato.adapters.errors import InvalidRequest, TransientFault
from legato.model import Cluster
from legato.model.versions import canonical, canonical_or_none, upgrade_refusal
from legato.simulator import rows
from legato.simulator.mcm import cluster
from legato.simulator.store import Store, unique
from legato.simulator.versions import RELEASES, control_plane_version, node_versions

CLUSTER = TypeAdapter(Cluster)
MAYBE_CLUSTER = TypeAdapter(Cluster | None)


class UpgradePart(Store):
    def set_upgrade_time(self, control_plane: float, node: float) -> None:
        """How long a control plane takes to answer on its new release, and a node to come back
        replaced (a real provider: minutes each; tests: fractions of a second)."""
        if control_plane < 0 or node < 0:
            raise InvalidRequest(f"upgrade times must be >= 0 seconds, not {control_plane}, {node}")
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)",
                           [("control_plane_upgrade", control_plane), ("node_upgrade", node)])

    @staticmethod
    def _upgrade_time(db: sqlite3.Connection, key: str) -> float:
        row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else 0.0

    def kubernetes_versions(self, cluster_id: str) -> list[str]:
        with self._read() as db:
            rows.existing_cluster(db, cluster_id)
        return list(RELEASES)

    async def upgrade_control_plane(self, op_id: str, cluster_id: str, version: str) -> Cluster:
        def act(db: sqlite3.Connection) -> Cluster:
            row, now = rows.existing_cluster(db, cluster_id), time.time()
            current, target = control_plane_version(row, now), version
            under_way = row["version_at"] is not None and row["version_at"] > now
            if under_way and canonical(row["kubernetes_version"]) == canonical_or_none(target):
                return cluster(db, cluster_id, now)  # type: ignore[return-value]  # already on its way
            if under_way:
                raise InvalidRequest(f"cluster {cluster_id}: an upgrade to {canonical(row['kubernetes_version'])} "
                                     "is under way")
            if canonical_or_none(target) == current:
                return cluster(db, cluster_id, now)  # type: ignore[return-value]
            refusal = upgrade_refusal(current, target, RELEASES)
            if refusal:
                raise InvalidRequest(f"cluster {cluster_id}: {refusal}")
            db.execute("UPDATE clusters SET version_from = ?, kubernetes_version = ?, version_at = ? WHERE id = ?",
                       (current, canonical(target), now + self._upgrade_time(db, "control_plane_upgrade"), cluster_id))
            return cluster(db, cluster_id, now)  # type: ignore[return-value]

        return await self._mutate("mcm.upgrade_control_plane", op_id, CLUSTER, act)

    async def upgrade_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], version: str) -> Cluster | None:
        def act(db: sqlite3.Connection) -> Cluster | None:
            row, now = db.execute("SELECT * FROM clusters WHERE id = ?", (cluster_id,)).fetchone(), time.time()
            if row is None:
                return None
            control_plane = control_plane_version(row, now)
            if canonical_or_none(version) != control_plane:
                raise InvalidRequest(f"cluster {cluster_id}: nodes can only move to the control plane's version "
                                     f"({control_plane}), not {version}: upgrade the control plane first")
            target = canonical(version)
            kubelets = node_versions(db, cluster_id, now)
            pending = {r["host"] for r in db.execute(
                "SELECT host FROM cluster_nodes WHERE cluster = ? AND version = ? AND version_at > ?",
                (cluster_id, target, now))}  # fmt: skip
            replace = [h for h in unique(host_ids) if h in kubelets and kubelets[h] != target and h not in pending]
            busy = {h: n for h, n in rows.replicas_on(db, now, cluster_id, replace).items() if n}
            if busy:
                raise TransientFault(f"cluster {cluster_id}: nodes still run replicas {busy}; drain them before "
                                     "replacing them")
            done_at = now + self._upgrade_time(db, "node_upgrade")
            db.executemany(
                "UPDATE cluster_nodes SET version_from = ?, version = ?, version_at = ?, cordoned = 0 WHERE host = ?",
                [(kubelets[h], target, done_at, h) for h in replace],
            )
            return cluster(db, cluster_id, now)

        return await self._mutate("mcm.upgrade_nodes", op_id, MAYBE_CLUSTER, act)
