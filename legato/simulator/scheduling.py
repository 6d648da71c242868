"""Replica scheduling like kube-scheduler: first fit on the nodes' free capacity and features."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from legato.adapters.errors import CapacityExhausted
from legato.simulator.rows import live
from legato.simulator.store import EPSILON


@dataclass
class Node:
    """A cluster node's free capacity while the scheduler fills it."""

    id: str
    cpu: float
    memory_mb: int
    gpu: int
    features: frozenset[str]


@dataclass(frozen=True)
class Need:
    """What one replica asks of a node."""

    cpu: float
    memory_mb: int
    gpu: int
    features: frozenset[str]

    @classmethod
    def of(cls, w: sqlite3.Row) -> Need:
        return cls(w["cpu"], w["memory_mb"], w["gpu"], frozenset(json.loads(w["features"])))


def free_nodes(
    db: sqlite3.Connection,
    cluster_id: str,
    now: float,
    *,
    skip_hosts: frozenset[str] = frozenset(),
    skip_workload: str | None = None,
) -> list[Node]:
    """The cluster's schedulable nodes (by host id; cordoned ones and ones being replaced by an
    upgrade are skipped, as kube-scheduler skips unschedulable nodes) with what their live replicas leave free at `now`.

    Replicas a rolling upgrade schedules for later take the place of one it removes at that same
    instant, so capacity free now stays free: checking at `now` never over-commits the future."""
    nodes = {
        r["id"]: Node(r["id"], r["cpu"], r["memory_mb"], r["gpu"], frozenset(json.loads(r["features"])))
        for r in db.execute(
            "SELECT h.* FROM cluster_nodes n JOIN hosts h ON h.id = n.host WHERE n.cluster = ? AND n.cordoned = 0 "
            "AND (n.version_at IS NULL OR n.version_at <= ?) ORDER BY h.id",  # a node being replaced takes no pod
            (cluster_id, now),
        )
        if r["id"] not in skip_hosts
    }
    # Summed per node by SQLite: a cluster runs thousands of replicas and this runs on every deploy.
    for r in db.execute(
        "SELECT r.host, SUM(w.cpu) AS cpu, SUM(w.memory_mb) AS memory_mb, SUM(w.gpu) AS gpu FROM replicas r "
        "JOIN workloads w ON w.cluster = r.cluster AND w.id = r.workload "
        f"WHERE r.cluster = :c AND {live('r')} AND (:skip IS NULL OR w.id != :skip) GROUP BY r.host",
        {"c": cluster_id, "now": now, "skip": skip_workload},
    ):
        node = nodes.get(r["host"])
        if node is not None:
            node.cpu -= r["cpu"]
            node.memory_mb -= r["memory_mb"]
            node.gpu -= r["gpu"]
    return list(nodes.values())


def _holds(n: Node, need: Need) -> bool:
    return need.features <= n.features and n.cpu + EPSILON >= need.cpu and n.memory_mb >= need.memory_mb and (
        n.gpu >= need.gpu)


def fit(nodes: list[Node], need: Need, prefer: str | None = None) -> str | None:
    """First fit: the preferred node if it holds the replica (the reservation placement made),
    else the first node with the features and room; its free capacity shrinks."""
    chosen = next((n for n in nodes if n.id == prefer and _holds(n, need)), None) if prefer else None
    chosen = chosen or next((n for n in nodes if _holds(n, need)), None)
    if chosen is None:
        return None
    chosen.cpu -= need.cpu
    chosen.memory_mb -= need.memory_mb
    chosen.gpu -= need.gpu
    return chosen.id


def why(nodes: list[Node], need: Need) -> str:
    if not nodes:
        return "the cluster has no nodes"
    able = [n for n in nodes if need.features <= n.features]
    if not able:
        return f"no node has features {sorted(need.features)}"
    best = max(able, key=lambda n: (n.cpu, n.memory_mb, n.gpu))
    return (
        f"a replica needs {need.cpu:g} cpu, {need.memory_mb} MiB, {need.gpu} gpu; the freest node, "
        f"{best.id}, has {max(best.cpu, 0):g} cpu, {best.memory_mb} MiB, {best.gpu} gpu free"
    )


def schedule(nodes: list[Node], need: Need, indexes: Sequence[int], total: int, workload_id: str, cluster_id: str,
             prefer: list[str] | None = None) -> list[str]:
    """The node of each replica in `indexes` (replica i tries `prefer[i]` first); CapacityExhausted
    (nothing written) if one does not fit."""
    placed = []
    for i in indexes:
        host = fit(nodes, need, prefer[i] if prefer and i < len(prefer) else None)
        if host is None:
            raise CapacityExhausted(
                f"workload {workload_id}: replica {i + 1} of {total} unschedulable on cluster {cluster_id}: "
                f"{why(nodes, need)}", resources=[f"cluster:{cluster_id}"],
            )
        placed.append(host)
    return placed
