"""Row lookups shared by the managers, and the replica history.

A replica row lives from created_at until removed_at (NULL: still running). Times may lie in the
future: a rolling upgrade writes its whole schedule at once, so "live" is always judged at a time.
"""

from __future__ import annotations

import sqlite3

from legato.adapters.errors import NotFound, TransientFault

# When a replica of a version that never becomes ready would be ready: later than any test runs.
NEVER = 1e18


def ready_time(db: sqlite3.Connection, version: str, at: float) -> float:
    """When a replica of `version` started now becomes ready: `at`, or NEVER for a version set to
    never become ready (an image that never pulls, a probe that never passes)."""
    stuck = db.execute("SELECT 1 FROM stuck_versions WHERE version = ?", (version,)).fetchone()
    return NEVER if stuck else at


def live(alias: str = "") -> str:
    """SQL: the replica exists at :now (created, not removed yet)."""
    a = f"{alias}." if alias else ""
    return f"({a}created_at <= :now AND ({a}removed_at IS NULL OR {a}removed_at > :now))"


def existing_cluster(db: sqlite3.Connection, cluster_id: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
    if row is None:
        raise NotFound(f"cluster {cluster_id} does not exist")
    reachable(db, cluster_id)
    return row


def reachable(db: sqlite3.Connection, cluster_id: str) -> None:
    """A cluster failed by `fail_cluster` refuses changes as an API server that does not answer does."""
    if db.execute("SELECT 1 FROM cluster_outages WHERE cluster = ?", (cluster_id,)).fetchone():
        raise TransientFault(f"cluster {cluster_id}: its API server does not answer")


def workload(db: sqlite3.Connection, cluster_id: str, workload_id: str) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM workloads WHERE cluster = ? AND id = ?", (cluster_id, workload_id)).fetchone()


def existing_workload(db: sqlite3.Connection, cluster_id: str, workload_id: str) -> sqlite3.Row:
    row = workload(db, cluster_id, workload_id)
    if row is None:
        raise NotFound(f"workload {workload_id} does not exist on cluster {cluster_id}")
    reachable(db, cluster_id)
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
    ready_at = ready_time(db, w["version"], ready_at)
    site = db.execute("SELECT site FROM clusters WHERE id = ?", (w["cluster"],)).fetchone()["site"]
    db.execute(
        "INSERT INTO replicas (cluster, workload, idx, host, service_id, component, site, image, version, endpoint, "
        "created_at, ready_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (w["cluster"], w["id"], idx, host, w["service_id"], w["component"], site, w["image"], w["version"],
         w["endpoint"], created_at, ready_at),
    )  # fmt: skip


def replace_replica(db: sqlite3.Connection, seq: int, *, host: str, now: float, ready_at: float) -> None:
    """Make-before-break: a replacement starts on `host` now, and the old replica goes the instant
    the replacement is ready (never, if it never becomes ready: then the old one keeps serving)."""
    version = db.execute("SELECT version FROM replicas WHERE seq = ?", (seq,)).fetchone()["version"]
    ready_at = ready_time(db, version, ready_at)
    db.execute(
        "INSERT INTO replicas (cluster, workload, idx, host, service_id, component, site, image, version, endpoint, "
        "created_at, ready_at) SELECT cluster, workload, idx, ?, service_id, component, site, image, version, "
        "endpoint, ?, ? FROM replicas WHERE seq = ?",
        (host, now, ready_at, seq),
    )
    if ready_at < NEVER:
        db.execute("UPDATE replicas SET removed_at = ? WHERE seq = ?", (ready_at, seq))


def replicas_on(db: sqlite3.Connection, now: float, cluster_id: str, hosts: list[str]) -> dict[str, int]:
    """Replicas running at `now` on each of these nodes (ready or not)."""
    marks = ",".join(f":h{i}" for i in range(len(hosts)))
    found = {h: 0 for h in hosts}
    if hosts:
        for r in db.execute(
            f"SELECT host, COUNT(*) AS n FROM replicas WHERE cluster = :c AND host IN ({marks}) AND {live()} "
            "GROUP BY host",
            {"c": cluster_id, "now": now, **{f"h{i}": h for i, h in enumerate(hosts)}},
        ):
            found[r["host"]] = r["n"]
    return found


def stop_node(db: sqlite3.Connection, now: float, host: str) -> int:
    """The host's node is gone for the scheduler (cordoned) and every replica on it stops now;
    nothing restarts them by itself. Returns the replicas it ran."""
    db.execute("UPDATE cluster_nodes SET cordoned = 1 WHERE host = ?", (host,))
    stopped = db.execute(f"UPDATE replicas SET removed_at = :now WHERE host = :h AND {live()}",
                         {"now": now, "h": host}).rowcount
    db.execute("DELETE FROM replicas WHERE host = :h AND created_at > :now", {"now": now, "h": host})
    return stopped


def retire_replicas(
    db: sqlite3.Connection, now: float, cluster_id: str, workload_id: str | None = None, from_idx: int = 0
) -> None:
    """Stop replicas now (history kept); those only scheduled for later never existed, so they go."""
    scope = "cluster = :c AND (:w IS NULL OR workload = :w) AND idx >= :i"
    args = {"c": cluster_id, "w": workload_id, "i": from_idx, "now": now}
    db.execute(f"DELETE FROM replicas WHERE {scope} AND created_at > :now", args)
    db.execute(f"UPDATE replicas SET removed_at = :now WHERE {scope} AND {live()}", args)
