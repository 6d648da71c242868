"""Row lookups shared by the managers, and the replica history.

A replica row lives from created_at until removed_at (NULL: still running). Times may lie in the
future: a rolling upgrade writes its whole schedule at once, so "live" is always judged at a time.
"""

from __future__ import annotations

import sqlite3

from legato.adapters.errors import NotFound


def live(alias: str = "") -> str:
    """SQL: the replica exists at :now (created, not removed yet)."""
    a = f"{alias}." if alias else ""
    return f"({a}created_at <= :now AND ({a}removed_at IS NULL OR {a}removed_at > :now))"


def existing_cluster(db: sqlite3.Connection, cluster_id: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
    if row is None:
        raise NotFound(f"cluster {cluster_id} does not exist")
    return row


def workload(db: sqlite3.Connection, cluster_id: str, workload_id: str) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM workloads WHERE cluster = ? AND id = ?", (cluster_id, workload_id)).fetchone()


def existing_workload(db: sqlite3.Connection, cluster_id: str, workload_id: str) -> sqlite3.Row:
    row = workload(db, cluster_id, workload_id)
    if row is None:
        raise NotFound(f"workload {workload_id} does not exist on cluster {cluster_id}")
    return row


def live_replicas(db: sqlite3.Connection, now: float, cluster_id: str, workload_id: str) -> list[sqlite3.Row]:
    return db.execute(
        f"SELECT * FROM replicas WHERE cluster = :c AND workload = :w AND {live()} ORDER BY idx, created_at, seq",
        {"c": cluster_id, "w": workload_id, "now": now},
    ).fetchall()


def add_replica(
    db: sqlite3.Connection, w: sqlite3.Row, *, idx: int, host: str, created_at: float, ready_at: float
) -> None:
    """A replica of workload row `w` as it is now (its image, version and endpoint)."""
    site = db.execute("SELECT site FROM clusters WHERE id = ?", (w["cluster"],)).fetchone()["site"]
    db.execute(
        "INSERT INTO replicas (cluster, workload, idx, host, service_id, component, site, image, version, endpoint, "
        "created_at, ready_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (w["cluster"], w["id"], idx, host, w["service_id"], w["component"], site, w["image"], w["version"],
         w["endpoint"], created_at, ready_at),
    )  # fmt: skip


def recreate_replica(db: sqlite3.Connection, seq: int, *, host: str, now: float, ready_at: float) -> None:
    """The pod is evicted and started again elsewhere: the old row ends now, a new one begins."""
    db.execute("UPDATE replicas SET removed_at = ? WHERE seq = ?", (now, seq))
    db.execute(
        "INSERT INTO replicas (cluster, workload, idx, host, service_id, component, site, image, version, endpoint, "
        "created_at, ready_at) SELECT cluster, workload, idx, ?, service_id, component, site, image, version, "
        "endpoint, ?, ? FROM replicas WHERE seq = ?",
        (host, now, ready_at, seq),
    )


def retire_replicas(
    db: sqlite3.Connection, now: float, cluster_id: str, workload_id: str | None = None, from_idx: int = 0
) -> None:
    """Stop replicas now (history kept); those only scheduled for later never existed, so they go."""
    scope = "cluster = :c AND (:w IS NULL OR workload = :w) AND idx >= :i"
    args = {"c": cluster_id, "w": workload_id, "i": from_idx, "now": now}
    db.execute(f"DELETE FROM replicas WHERE {scope} AND created_at > :now", args)
    db.execute(f"UPDATE replicas SET removed_at = :now WHERE {scope} AND {live()}", args)
