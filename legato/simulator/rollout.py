"""How replicas get replaced without a background process: a rolling upgrade writes its whole
timeline at once (Kubernetes maxSurge=1, maxUnavailable=0), and a node drain evicts and restarts."""

from __future__ import annotations

import sqlite3

from legato.adapters.errors import CapacityExhausted
from legato.simulator import rows
from legato.simulator.scheduling import Need, fit, free_nodes, schedule, why


def rolling(db: sqlite3.Connection, now: float, cluster_id: str, workload_id: str) -> bool:
    """True while a version rollout has steps still to come: a replica to create later, or a live
    replica still on an outdated image or version (a stalled rollout too). A drain's replacements,
    on the current version, are not a rollout."""
    args = {"c": cluster_id, "w": workload_id, "now": now}
    return (
        db.execute(
            "SELECT 1 FROM replicas r JOIN workloads w ON w.cluster = r.cluster AND w.id = r.workload "
            "WHERE r.cluster = :c AND r.workload = :w AND (r.created_at > :now OR "
            f"({rows.live('r')} AND (r.image != w.image OR r.version != w.version))) LIMIT 1",
            args,
        ).fetchone()
        is not None
    )


def settle(db: sqlite3.Connection, now: float, cluster_id: str, workload_id: str) -> None:
    """Stop a rollout where it stands, before another change. Replacements not created yet never
    will be, so the old replicas they were to replace stay; a surge replica not ready yet goes
    (Kubernetes scales down unhealthy pods first). One live replica per index remains."""
    args = {"c": cluster_id, "w": workload_id, "now": now}
    db.execute("DELETE FROM replicas WHERE cluster = :c AND workload = :w AND created_at > :now", args)
    db.execute("UPDATE replicas SET removed_at = NULL WHERE cluster = :c AND workload = :w AND removed_at > :now", args)
    kept: dict[int, sqlite3.Row] = {}
    for r in rows.live_replicas(db, now, cluster_id, workload_id):
        first = kept.setdefault(r["idx"], r)
        if first is r:
            continue
        drop = r  # the later of two at one index is the surge replica, unless only it is ready
        if first["ready_at"] > now >= r["ready_at"]:
            drop, kept[r["idx"]] = first, r
        db.execute("UPDATE replicas SET removed_at = ? WHERE seq = ?", (now, drop["seq"]))


def roll(
    db: sqlite3.Connection, now: float, delay: float, w: sqlite3.Row, *, skip_hosts: frozenset[str] = frozenset()
) -> None:
    """Replace every live replica not on w's image and version, one at a time: replacement k is
    created when replacement k-1 is ready, becomes ready `delay` later, and the replica it replaces
    is removed at that instant. The first needs room for one extra replica; each later one takes the
    place just freed, so the rollout never needs more. A replacement that never becomes ready
    stalls the rollout there, as maxUnavailable=0 does: nothing more is replaced or removed."""
    target = (w["image"], w["version"])
    # Replicas already on their way out (a drain's make-before-break) are not replaced again.
    outdated = [r for r in rows.live_replicas(db, now, w["cluster"], w["id"])
                if (r["image"], r["version"]) != target and r["removed_at"] is None]
    if not outdated:
        return
    need = Need.of(w)
    nodes = free_nodes(db, w["cluster"], now, skip_hosts=skip_hosts)
    host = fit(nodes, need)
    if host is None:
        raise CapacityExhausted(
            f"workload {w['id']}: no room for a surge replica to upgrade on cluster {w['cluster']}: {why(nodes, need)}",
            resources=[f"cluster:{w['cluster']}"],
        )
    created = now
    for k, old in enumerate(outdated):
        ready = rows.ready_time(db, w["version"], now + (k + 1) * delay)
        rows.add_replica(db, w, idx=old["idx"], host=host, created_at=created, ready_at=ready)
        if ready >= rows.NEVER:
            return
        db.execute("UPDATE replicas SET removed_at = ? WHERE seq = ?", (ready, old["seq"]))
        host, created = old["host"], ready


def plan_drain(
    db: sqlite3.Connection, now: float, cluster_id: str, gone: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Which of the nodes `gone` can be emptied: every replica on them must fit on the nodes that
    stay (schedulable ones, and the nodes that cannot be emptied). A node whose replicas do not fit
    is stuck; its room then counts for the others, so the check runs again until it holds."""
    stuck: dict[str, str] = {}
    while True:
        draining = [h for h in gone if h not in stuck]
        nodes = free_nodes(db, cluster_id, now, skip_hosts=frozenset(draining))
        for r in _displaced(db, now, cluster_id, draining):
            need = Need.of(r)
            if fit(nodes, need) is None:
                stuck[r["host"]] = (f"replica {r['idx'] + 1} of {r['workload']} ({need.cpu:g} cpu, "
                                    f"{need.memory_mb} MiB) fits on no other node: {why(nodes, need)}")
                break
        else:
            return draining, stuck


def _displaced(db: sqlite3.Connection, now: float, cluster_id: str, hosts: list[str]) -> list[sqlite3.Row]:
    if not hosts:
        return []
    marks = ",".join(f":h{i}" for i in range(len(hosts)))
    return db.execute(
        "SELECT r.seq, r.host, r.workload, r.idx, w.replicas, w.cpu, w.memory_mb, w.gpu, w.features FROM replicas r "
        "JOIN workloads w ON w.cluster = r.cluster AND w.id = r.workload "
        f"WHERE r.cluster = :c AND r.host IN ({marks}) AND {rows.live('r')} AND (r.removed_at IS NULL) "
        "ORDER BY r.host, r.workload, r.idx, r.seq",
        {"c": cluster_id, "now": now, **{f"h{i}": h for i, h in enumerate(sorted(hosts))}},
    ).fetchall()


def drain(db: sqlite3.Connection, now: float, delay: float, cluster_id: str, gone: frozenset[str]) -> None:
    """Move every replica off `gone` make-before-break: its replacement starts on another node now
    and the old replica goes once the replacement is ready, so no workload ever has fewer ready
    replicas than before. A rollout under way is settled first and resumed after, so no replacement
    lands on a gone node. The caller cordons `gone` and has checked (plan_drain) that all fits."""
    rolling_now = [
        r["id"]
        for r in db.execute("SELECT id FROM workloads WHERE cluster = ? ORDER BY id", (cluster_id,)).fetchall()
        if rolling(db, now, cluster_id, r["id"])
    ]
    for workload_id in rolling_now:
        settle(db, now, cluster_id, workload_id)
    nodes = free_nodes(db, cluster_id, now, skip_hosts=gone)
    for r in _displaced(db, now, cluster_id, sorted(gone)):
        (host,) = schedule(nodes, Need.of(r), range(r["idx"], r["idx"] + 1), r["replicas"], r["workload"], cluster_id)
        rows.replace_replica(db, r["seq"], host=host, now=now, ready_at=now + delay)
    for workload_id in rolling_now:
        roll(db, now, delay, rows.existing_workload(db, cluster_id, workload_id), skip_hosts=gone)
