"""WDM part of the simulated continuum: workloads on clusters, replica by replica.

A workload may be a chart's release: its replicas are modelled as any workload's, and its
revisions as Helm keeps them (`releases`): every install, upgrade and scale makes one, the current
one `deployed` and the others `superseded`; an upgrade back to the previous revision's version is
Helm's rollback ("Rollback to N"), with that revision's values; removing it uninstalls (the
history goes, as `helm uninstall` does)."""

from __future__ import annotations

import json
import sqlite3
import time

from pydantic import TypeAdapter

from legato.adapters.errors import InvalidRequest
from legato.model.charts import ChartSource, release_values
from legato.model.workloads import WorkloadMetrics, WorkloadSpec, WorkloadStatus
from legato.simulator import rows
from legato.simulator.rollout import roll, rolling, settle
from legato.simulator.scheduling import Need, free_nodes, schedule
from legato.simulator.store import Store

WORKLOAD = TypeAdapter(WorkloadStatus)
NOTHING = TypeAdapter(None)
REQUESTS_PER_REPLICA = 100  # per metrics window: enough for a canary gate to judge a rate


class WdmPart(Store):
    def workloads(self, cluster_id: str | None = None) -> list[WorkloadStatus]:
        with self._read() as db:
            found = db.execute(
                "SELECT cluster, id FROM workloads WHERE ? IS NULL OR cluster = ? ORDER BY cluster, id",
                (cluster_id, cluster_id),
            ).fetchall()
            now = time.time()
            return [s for r in found if (s := status(db, now, r["cluster"], r["id"])) is not None]

    async def workload_status(self, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
        return await self._observe("wdm.status", lambda db: status(db, time.time(), cluster_id, workload_id))

    async def metrics(self, cluster_id: str, workload_id: str) -> WorkloadMetrics | None:
        return await self._observe("wdm.metrics", lambda db: metrics(db, time.time(), cluster_id, workload_id))

    async def deploy(self, op_id: str, cluster_id: str, spec: WorkloadSpec) -> WorkloadStatus:
        """Create the workload, or update it in place when `spec.id` already runs on the cluster."""

        def act(db: sqlite3.Connection) -> WorkloadStatus:
            now = time.time()
            cl = rows.existing_cluster(db, cluster_id)
            if spec.replicas < 0:
                raise InvalidRequest(f"workload {spec.id}: replicas must be >= 0, not {spec.replicas}")
            old = rows.workload(db, cluster_id, spec.id)
            if old is not None and same_template(old, spec):
                rescaled = self._rescale(db, now, cluster_id, spec.id, spec.replicas)
                return revise(db, now, op_id, rows.existing_workload(db, cluster_id, spec.id), rescaled)
            need = Need(spec.cpu, spec.memory_mb, spec.gpu, frozenset(spec.features))
            nodes = free_nodes(db, cluster_id, now, skip_workload=spec.id)
            placed = schedule(nodes, need, range(spec.replicas), spec.replicas, spec.id, cluster_id,
                              spec.prefer_nodes)
            endpoint = f"{spec.id}.{cluster_id}.{cl['site']}.sim:{spec.ports[0] if spec.ports else 80}"
            db.execute(
                "INSERT OR REPLACE INTO workloads (cluster, id, service_id, tenant, component, image, version, "
                "replicas, cpu, memory_mb, gpu, features, ports, env, labels, endpoint, chart) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cluster_id, spec.id, spec.service_id, spec.tenant, spec.component, spec.image, spec.version,
                 spec.replicas, spec.cpu, spec.memory_mb, spec.gpu, json.dumps(sorted(spec.features)),
                 json.dumps(spec.ports), json.dumps(spec.env), json.dumps(spec.labels), endpoint, chart_json(spec)),
            )  # fmt: skip
            rows.retire_replicas(db, now, cluster_id, spec.id)  # a new template restarts every replica
            w, ready_at = rows.existing_workload(db, cluster_id, spec.id), now + self._ready_delay(db)
            for i, host in enumerate(placed):
                rows.add_replica(db, w, idx=i, host=host, created_at=now, ready_at=ready_at)
            return revise(db, now, op_id, w, status(db, now, cluster_id, spec.id))  # type: ignore[arg-type]

        return await self._mutate("wdm.deploy", op_id, WORKLOAD, act)

    async def scale(self, op_id: str, cluster_id: str, workload_id: str, replicas: int,
                    prefer_nodes: list[str] | None = None) -> WorkloadStatus:
        def act(db: sqlite3.Connection) -> WorkloadStatus:
            now = time.time()
            rescaled = self._rescale(db, now, cluster_id, workload_id, replicas, prefer_nodes)
            return revise(db, now, op_id, rows.existing_workload(db, cluster_id, workload_id), rescaled)

        return await self._mutate("wdm.scale", op_id, WORKLOAD, act)

    def _rescale(
        self, db: sqlite3.Connection, now: float, cluster_id: str, workload_id: str, replicas: int,
        prefer_nodes: list[str] | None = None,
    ) -> WorkloadStatus:
        """Keep running replicas; schedule the extra ones and those a failed node took (all must
        fit: a Deployment's controller keeps its count), or stop the surplus now."""
        w = rows.existing_workload(db, cluster_id, workload_id)
        if replicas < 0:
            raise InvalidRequest(f"workload {workload_id}: replicas must be >= 0, not {replicas}")
        have = w["replicas"]
        present = {r["idx"] for r in db.execute(
            "SELECT idx FROM replicas WHERE cluster = ? AND workload = ? AND (removed_at IS NULL OR removed_at > ?)",
            (cluster_id, workload_id, now))}  # fmt: skip
        missing = [i for i in range(replicas) if i not in present]
        if missing:
            nodes = free_nodes(db, cluster_id, now)
            hints = [""] * have + list(prefer_nodes or [])  # the hints are for the added replicas, in order
            placed = schedule(nodes, Need.of(w), missing, replicas, workload_id, cluster_id, hints)
            ready_at = now + self._ready_delay(db)
            for i, host in zip(missing, placed, strict=True):
                rows.add_replica(db, w, idx=i, host=host, created_at=now, ready_at=ready_at)
        rows.retire_replicas(db, now, cluster_id, workload_id, from_idx=replicas)
        db.execute(
            "UPDATE workloads SET replicas = ? WHERE cluster = ? AND id = ?", (replicas, cluster_id, workload_id)
        )
        return status(db, now, cluster_id, workload_id)  # type: ignore[return-value]

    async def upgrade(self, op_id: str, cluster_id: str, workload_id: str, image: str, version: str,
                      values: dict | None = None) -> WorkloadStatus:
        """Rolling with one surge replica (see rollout.roll); a rollout under way is settled first,
        so upgrading again, or back, mid-way works. The same image and version changes nothing.
        `values`: a chart's new values (its revision records them; the replicas are not rolled
        for values alone, which the simulator does not model)."""

        def act(db: sqlite3.Connection) -> WorkloadStatus:
            now = time.time()
            w = rows.existing_workload(db, cluster_id, workload_id)
            chart = w["chart"]
            if values is not None and chart is None:
                raise InvalidRequest(f"workload {workload_id} runs an image: values are a chart's")
            if values is not None:
                chart = ChartSource.model_validate_json(chart).model_copy(update={"values": values}).model_dump_json()
            if (w["image"], w["version"], w["chart"]) != (image, version, chart):
                settle(db, now, cluster_id, workload_id)
                db.execute(
                    "UPDATE workloads SET image = ?, version = ?, chart = ? WHERE cluster = ? AND id = ?",
                    (image, version, chart, cluster_id, workload_id),
                )
                w = rows.existing_workload(db, cluster_id, workload_id)
                roll(db, now, self._ready_delay(db), w)
                return revise(db, now, op_id, w, status(db, now, cluster_id, workload_id))  # type: ignore[arg-type]
            return status(db, now, cluster_id, workload_id)  # type: ignore[return-value]

        return await self._mutate("wdm.upgrade", op_id, WORKLOAD, act)

    async def remove(self, op_id: str, cluster_id: str, workload_id: str) -> None:
        def act(db: sqlite3.Connection) -> None:
            rows.retire_replicas(db, time.time(), cluster_id, workload_id)
            db.execute("DELETE FROM workloads WHERE cluster = ? AND id = ?", (cluster_id, workload_id))
            db.execute("DELETE FROM releases WHERE cluster = ? AND workload = ?", (cluster_id, workload_id))

        return await self._mutate("wdm.remove", op_id, NOTHING, act)


    def releases(self, cluster_id: str, workload_id: str) -> list[dict]:
        """A chart workload's revisions, oldest first, as `helm history` lists them."""
        with self._read() as db:
            return [dict(r) | {"values": json.loads(r["values_json"])} for r in db.execute(
                "SELECT revision, version, replicas, values_json, status, description, op_id FROM releases "
                "WHERE cluster = ? AND workload = ? ORDER BY revision", (cluster_id, workload_id))]


def chart_json(spec: WorkloadSpec) -> str | None:
    return spec.chart.model_dump_json() if spec.chart is not None else None


def same_template(row: sqlite3.Row, spec: WorkloadSpec) -> bool:
    """True when a re-deploy changes nothing but the replica count (no restart needed)."""
    stored = (
        row["service_id"], row["tenant"], row["component"], row["image"], row["version"], row["cpu"],
        row["memory_mb"], row["gpu"], json.loads(row["features"]), json.loads(row["ports"]),
        json.loads(row["env"]), json.loads(row["labels"]), row["chart"],
    )  # fmt: skip
    wanted = (
        spec.service_id, spec.tenant, spec.component, spec.image, spec.version, spec.cpu, spec.memory_mb,
        spec.gpu, sorted(spec.features), spec.ports, spec.env, spec.labels, chart_json(spec),
    )  # fmt: skip
    return stored == wanted


def revise(db: sqlite3.Connection, now: float, op_id: str, w: sqlite3.Row, current: WorkloadStatus) -> WorkloadStatus:
    """A chart's release gets its next revision for what `w` now is; a plain workload is unchanged.
    Going back to the previous revision's version is Helm's rollback, to that revision's values."""
    if w["chart"] is None:
        return current
    chart = ChartSource.model_validate_json(w["chart"])
    history = db.execute("SELECT revision, version, values_json FROM releases WHERE cluster = ? AND workload = ? "
                         "ORDER BY revision", (w["cluster"], w["id"])).fetchall()
    values = json.dumps(release_values(chart, w["replicas"], w["version"]), sort_keys=True)
    description = "Install complete" if not history else "Upgrade complete"
    if len(history) >= 2 and history[-2]["version"] == w["version"] != history[-1]["version"]:
        description, values = f"Rollback to {history[-2]['revision']}", history[-2]["values_json"]
    elif len(history) >= 2 and history[-2]["version"] == w["version"] == history[-1]["version"] and \
            history[-2]["values_json"] == values != history[-1]["values_json"]:
        description = f"Rollback to {history[-2]['revision']}"  # back to the values that served
    revision = history[-1]["revision"] + 1 if history else 1
    db.execute("UPDATE releases SET status = 'superseded' WHERE cluster = ? AND workload = ?", (w["cluster"], w["id"]))
    db.execute("INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, 'deployed', ?, ?, ?)",
               (w["cluster"], w["id"], revision, w["version"], w["replicas"], values, description, op_id, now))
    return current.model_copy(update={"revision": revision})


def serving_by_version(db: sqlite3.Connection, now: float, cluster_id: str, workload_id: str) -> dict[str, int]:
    """Replicas ready at `now`, per version: the ones taking traffic."""
    found = db.execute(
        "SELECT version, COUNT(*) AS n FROM replicas "
        f"WHERE cluster = :c AND workload = :w AND {rows.live()} AND ready_at <= :now GROUP BY version",
        {"c": cluster_id, "w": workload_id, "now": now},
    )
    return {r["version"]: r["n"] for r in found}


def status(db: sqlite3.Connection, now: float, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
    """`version` is the target once an upgrade is committed. `ready_replicas` counts the replicas
    serving (old ones not yet replaced included), but stays below `replicas` until every replica
    runs the target version and is ready, so `ready` means the change is done. `nodes`: replicas
    running now per node, what each node holds for this workload."""
    w = rows.workload(db, cluster_id, workload_id)
    if w is None:
        return None
    by_version = serving_by_version(db, now, cluster_id, workload_id)
    serving = sum(by_version.values())
    updated = db.execute(
        "SELECT COUNT(*) FROM replicas WHERE cluster = :c AND workload = :w AND image = :i AND version = :v "
        f"AND {rows.live()} AND ready_at <= :now",
        {"c": cluster_id, "w": workload_id, "i": w["image"], "v": w["version"], "now": now},
    ).fetchone()[0]
    done = updated >= w["replicas"] and not rolling(db, now, cluster_id, workload_id)
    cap = w["replicas"] if done else w["replicas"] - 1
    nodes = {r["host"]: r["n"] for r in db.execute(
        f"SELECT host, COUNT(*) AS n FROM replicas WHERE cluster = :c AND workload = :w AND {rows.live()} "
        "GROUP BY host ORDER BY host", {"c": cluster_id, "w": workload_id, "now": now})}
    revision = db.execute("SELECT MAX(revision) FROM releases WHERE cluster = ? AND workload = ?",
                          (cluster_id, workload_id)).fetchone()[0]
    return WorkloadStatus(
        id=w["id"], cluster=cluster_id, component=w["component"], service_id=w["service_id"],
        version=w["version"], replicas=w["replicas"], ready_replicas=max(0, min(serving, cap)),
        endpoint=w["endpoint"], nodes=nodes, serving=by_version, updated_replicas=updated, revision=revision,
    )  # fmt: skip


def metrics(db: sqlite3.Connection, now: float, cluster_id: str, workload_id: str) -> WorkloadMetrics | None:
    """The error rate is the injected rate of each serving replica's version, weighted by replicas,
    so a rollout half done reports a mix; with nothing serving, the target version's rate."""
    w = rows.workload(db, cluster_id, workload_id)
    if w is None:
        return None
    rates = {r["version"]: r["rate"] for r in db.execute("SELECT version, rate FROM error_rates")}
    serving = serving_by_version(db, now, cluster_id, workload_id)
    total = sum(serving.values())
    if total:
        rate = sum(n * rates.get(v, 0.0) for v, n in serving.items()) / total
    else:
        rate = rates.get(w["version"], 0.0)
    return WorkloadMetrics(id=workload_id, version=w["version"], error_rate=rate, requests=total * REQUESTS_PER_REPLICA)
