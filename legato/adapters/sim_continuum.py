"""The simulated continuum behind the `sim` backends: hosts, clusters, workloads and connections.

It plays the external systems (PIM, MCM, WDM, TCM), so its state lives in its own SQLite file:
it survives worker restarts and is shared by every process that opens the file. Mutating calls
dedup on their operation id; latencies and faults are stored in the file too, so a test process
can inject them into a running worker.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter

from legato.adapters.errors import CapacityExhausted, InvalidRequest, NotFound, PermanentFault, TransientFault
from legato.adapters.tcm import Connection, LinkRequest, QosRequest
from legato.adapters.wdm import WorkloadSpec, WorkloadStatus
from legato.model import Cluster, Host, Topology
from legato.model.service import NAME_PATTERN

KINDS = frozenset(
    {
        "pim.allocate", "pim.release",
        "mcm.create_cluster", "mcm.add_nodes", "mcm.remove_nodes", "mcm.delete_cluster",
        "wdm.deploy", "wdm.status", "wdm.scale", "wdm.upgrade", "wdm.remove",
        "tcm.connect", "tcm.disconnect", "tcm.set_qos", "tcm.clear_qos",
    }
)  # fmt: skip

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS faults (
    kind TEXT PRIMARY KEY, transient_rate REAL NOT NULL, permanent INTEGER NOT NULL, phase TEXT);
CREATE TABLE IF NOT EXISTS latencies (kind TEXT PRIMARY KEY, seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS operations (
    op_id TEXT PRIMARY KEY, kind TEXT NOT NULL, result TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, cpu REAL NOT NULL, memory_mb INTEGER NOT NULL,
    gpu INTEGER NOT NULL, features TEXT NOT NULL, state TEXT NOT NULL, power TEXT NOT NULL,
    owner TEXT, allocation_op TEXT);
CREATE TABLE IF NOT EXISTS clusters (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, owner TEXT, shared INTEGER NOT NULL,
    kubernetes_version TEXT NOT NULL, created_op TEXT);
CREATE TABLE IF NOT EXISTS cluster_nodes (host TEXT PRIMARY KEY, cluster TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workloads (
    cluster TEXT NOT NULL, id TEXT NOT NULL, service_id TEXT NOT NULL, tenant TEXT NOT NULL,
    component TEXT NOT NULL, image TEXT NOT NULL, version TEXT NOT NULL, replicas INTEGER NOT NULL,
    cpu REAL NOT NULL, memory_mb INTEGER NOT NULL, gpu INTEGER NOT NULL, features TEXT NOT NULL,
    ports TEXT NOT NULL, env TEXT NOT NULL, labels TEXT NOT NULL, endpoint TEXT NOT NULL,
    PRIMARY KEY (cluster, id));
CREATE TABLE IF NOT EXISTS replicas (
    cluster TEXT NOT NULL, workload TEXT NOT NULL, idx INTEGER NOT NULL, host TEXT NOT NULL,
    ready_at REAL NOT NULL, PRIMARY KEY (cluster, workload, idx));
CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY, service_id TEXT NOT NULL, kind TEXT NOT NULL,
    source TEXT NOT NULL, target TEXT NOT NULL, source_endpoint TEXT, target_endpoint TEXT,
    profile TEXT, bandwidth_mbps REAL NOT NULL, latency_ms REAL NOT NULL);
"""
TABLES = ("meta", "settings", "faults", "latencies", "operations", "hosts", "clusters",
          "cluster_nodes", "workloads", "replicas", "connections")  # fmt: skip

EPSILON = 1e-9
T = TypeVar("T")
HOSTS = TypeAdapter(list[Host])
HOST_IDS = TypeAdapter(list[str])
CLUSTER = TypeAdapter(Cluster)
MAYBE_CLUSTER = TypeAdapter(Cluster | None)
NOTHING = TypeAdapter(None)
WORKLOAD = TypeAdapter(WorkloadStatus)
CONNECTION = TypeAdapter(Connection)


@dataclass
class _Node:
    """A cluster node's free capacity while the scheduler fills it."""

    id: str
    cpu: float
    memory_mb: int
    gpu: int
    features: frozenset[str]


@dataclass(frozen=True)
class _Need:
    """What one replica asks of a node."""

    cpu: float
    memory_mb: int
    gpu: int
    features: frozenset[str]


class SimContinuum:
    """One simulated continuum, stored at `path`; open it from as many processes as needed."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._topology_cache: tuple[str, Topology] | None = None
        db = self._connect()
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
        finally:
            db.close()

    # ---- storage: a connection per call, so threads, tasks and processes never share one

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        db.row_factory = sqlite3.Row
        return db

    @contextmanager
    def _tx(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """One transaction; IMMEDIATE takes the write lock up front so check-then-act is atomic."""
        db = self._connect()
        try:
            db.execute(f"BEGIN {mode}")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _read(self) -> Any:
        return self._tx("DEFERRED")

    # ---- lifecycle

    def seed(self, topology: Topology) -> bool:
        """Load the topology's hosts and shared clusters once; False if already seeded (state kept)."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM meta WHERE key = 'topology'").fetchone():
                return False
            for site_id, site in topology.sites.items():
                for h in site.hosts:
                    if db.execute("SELECT 1 FROM hosts WHERE id = ?", (h.id,)).fetchone():
                        raise InvalidRequest(f"topology: host {h.id} appears twice")
                    db.execute(
                        "INSERT INTO hosts VALUES (?, ?, ?, ?, ?, ?, 'free', 'off', NULL, NULL)",
                        (h.id, site_id, h.cpu, h.memory_mb, h.gpu, json.dumps(sorted(h.features))),
                    )
                for c in site.clusters:
                    db.execute(
                        "INSERT INTO clusters VALUES (?, ?, NULL, 1, ?, NULL)",
                        (c.id, site_id, c.kubernetes_version),
                    )
                    for host_id in c.hosts:
                        taken = db.execute(
                            "UPDATE hosts SET state = 'allocated', power = 'on' "
                            "WHERE id = ? AND site = ? AND state = 'free'",
                            (host_id, site_id),
                        ).rowcount
                        if not taken:
                            raise InvalidRequest(
                                f"topology: cluster {c.id} names host {host_id}, "
                                f"which is not a free host of site {site_id}"
                            )
                        db.execute("INSERT INTO cluster_nodes VALUES (?, ?)", (host_id, c.id))
            db.execute("INSERT INTO meta VALUES ('topology', ?)", (topology.model_dump_json(),))
        return True

    def reset(self) -> None:
        """Wipe everything, topology and faults included (tests)."""
        with self._tx() as db:
            for table in TABLES:
                db.execute(f"DELETE FROM {table}")

    def topology(self) -> Topology:
        with self._read() as db:
            return self._topology(db)

    def _topology(self, db: sqlite3.Connection) -> Topology:
        row = db.execute("SELECT value FROM meta WHERE key = 'topology'").fetchone()
        if row is None:
            raise InvalidRequest("the simulated continuum is not seeded with a topology")
        if self._topology_cache is None or self._topology_cache[0] != row["value"]:
            self._topology_cache = (row["value"], Topology.model_validate_json(row["value"]))
        return self._topology_cache[1]

    # ---- fault injection and timing, stored in the file so any process can set them

    def set_fault(
        self, kind: str, transient_rate: float = 0.0, permanent: bool = False, *, phase: str | None = None
    ) -> None:
        """Inject faults on `kind`; `phase` pins transient faults to "before" or "after" the action."""
        _check_kind(kind)
        if not 0.0 <= transient_rate <= 1.0:
            raise InvalidRequest(f"transient_rate must be between 0 and 1, not {transient_rate}")
        if phase not in (None, "before", "after"):
            raise InvalidRequest(f"phase must be 'before', 'after' or None, not {phase!r}")
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO faults VALUES (?, ?, ?, ?)", (kind, transient_rate, permanent, phase))

    def clear_faults(self) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM faults")

    def set_latency(self, kind: str, seconds: float) -> None:
        _check_kind(kind)
        if seconds < 0:
            raise InvalidRequest(f"latency must be >= 0 seconds, not {seconds}")
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO latencies VALUES (?, ?)", (kind, seconds))

    def set_ready_delay(self, seconds: float) -> None:
        """How long a deployed, scaled or upgraded replica takes to become ready."""
        if seconds < 0:
            raise InvalidRequest(f"ready delay must be >= 0 seconds, not {seconds}")
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES ('ready_delay', ?)", (seconds,))

    def _ready_at(self, db: sqlite3.Connection) -> float:
        row = db.execute("SELECT value FROM settings WHERE key = 'ready_delay'").fetchone()
        return time.time() + (row["value"] if row else 0.0)

    async def _pause(self, kind: str) -> None:
        with self._read() as db:
            row = db.execute("SELECT seconds FROM latencies WHERE kind = ?", (kind,)).fetchone()
        if row and row["seconds"] > 0:
            await asyncio.sleep(row["seconds"])

    @staticmethod
    def _roll_fault(db: sqlite3.Connection, kind: str) -> bool:
        """Raise an injected fault due before acting; True when the response must be lost after."""
        row = db.execute("SELECT * FROM faults WHERE kind = ?", (kind,)).fetchone()
        if row is None:
            return False
        if row["permanent"]:
            raise PermanentFault(f"injected permanent failure on {kind}")
        if random.random() >= row["transient_rate"]:
            return False
        if (row["phase"] or random.choice(("before", "after"))) == "before":
            raise TransientFault(f"injected transient failure on {kind}")
        return True

    # ---- the two shapes of a call: a deduplicated mutation and a faultable observation

    async def _mutate(self, kind: str, op_id: str, result: TypeAdapter[T], act: Callable[[sqlite3.Connection], T]) -> T:
        await self._pause(kind)
        return await asyncio.to_thread(self._mutate_now, kind, op_id, result, act)

    def _mutate_now(self, kind: str, op_id: str, result: TypeAdapter[T], act: Callable[[sqlite3.Connection], T]) -> T:
        if not op_id:
            raise InvalidRequest(f"{kind}: an operation id is required")
        with self._tx() as db:
            done = db.execute("SELECT kind, result FROM operations WHERE op_id = ?", (op_id,)).fetchone()
            if done is not None:  # the op already happened: its first result, no faults, no action
                if done["kind"] != kind:
                    raise InvalidRequest(f"operation id {op_id!r} was already used for {done['kind']}")
                return result.validate_json(done["result"])
            lose_response = self._roll_fault(db, kind)
            value = act(db)
            db.execute(
                "INSERT INTO operations VALUES (?, ?, ?, ?)",
                (op_id, kind, result.dump_json(value).decode(), time.time()),
            )
        if lose_response:
            raise TransientFault(f"injected transient failure on {kind} (response lost after the action)")
        return value

    async def _observe(self, kind: str, read: Callable[[sqlite3.Connection], T]) -> T:
        await self._pause(kind)

        def run() -> T:
            with self._read() as db:
                if self._roll_fault(db, kind):
                    raise TransientFault(f"injected transient failure on {kind} (response lost)")
                return read(db)

        return await asyncio.to_thread(run)

    # ---- PIM: bare-metal hosts

    def hosts(self, site: str | None = None) -> list[Host]:
        with self._read() as db:
            return _hosts(db, site=site)

    def host_power(self, host_id: str) -> str | None:
        """ "on" / "off" (None for an unknown host): power is not part of the Host model."""
        with self._read() as db:
            row = db.execute("SELECT power FROM hosts WHERE id = ?", (host_id,)).fetchone()
        return row["power"] if row else None

    async def allocate_hosts(self, op_id: str, site: str, host_ids: list[str], owner: str) -> list[Host]:
        def act(db: sqlite3.Connection) -> list[Host]:
            if not owner:
                raise InvalidRequest("owner: the service allocating hosts is required")
            ids = _unique(host_ids)
            for host_id in ids:
                row = db.execute("SELECT site, state FROM hosts WHERE id = ?", (host_id,)).fetchone()
                if row is None or row["site"] != site:
                    raise InvalidRequest(f"host {host_id} does not exist at site {site}")
                if row["state"] != "free":
                    raise CapacityExhausted(f"host {host_id} at site {site} is already allocated")
            db.executemany(
                "UPDATE hosts SET state = 'allocated', power = 'on', owner = ?, allocation_op = ? WHERE id = ?",
                [(owner, op_id, h) for h in ids],
            )
            return _hosts(db, ids=ids)

        return await self._mutate("pim.allocate", op_id, HOSTS, act)

    async def release_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str]) -> list[str]:
        def act(db: sqlite3.Connection) -> list[str]:
            held = [
                h
                for h in _unique(host_ids)
                if db.execute(
                    "SELECT 1 FROM hosts WHERE id = ? AND allocation_op = ?", (h, allocation_op_id)
                ).fetchone()
            ]
            for host_id in held:
                node = db.execute("SELECT cluster FROM cluster_nodes WHERE host = ?", (host_id,)).fetchone()
                if node:
                    raise InvalidRequest(
                        f"host {host_id} is still a node of cluster {node['cluster']}; "
                        "remove the node or delete the cluster before releasing the host"
                    )
            db.executemany(
                "UPDATE hosts SET state = 'free', power = 'off', owner = NULL, allocation_op = NULL WHERE id = ?",
                [(h,) for h in held],
            )
            return held

        return await self._mutate("pim.release", op_id, HOST_IDS, act)

    # ---- MCM: Kubernetes clusters on allocated hosts

    def clusters(self, site: str | None = None) -> list[Cluster]:
        with self._read() as db:
            ids = db.execute("SELECT id FROM clusters WHERE ? IS NULL OR site = ? ORDER BY id", (site, site)).fetchall()
            return [c for r in ids if (c := _cluster(db, r["id"])) is not None]

    def cluster(self, cluster_id: str) -> Cluster | None:
        with self._read() as db:
            return _cluster(db, cluster_id)

    async def create_cluster(self, op_id: str, cluster_id: str, site: str, host_ids: list[str], owner: str) -> Cluster:
        def act(db: sqlite3.Connection) -> Cluster:
            if not re.fullmatch(NAME_PATTERN, cluster_id):
                raise InvalidRequest(f"cluster id {cluster_id!r} is not a DNS-1123 label")
            old = db.execute("SELECT site, owner FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
            if old is not None and (old["site"], old["owner"]) != (site, owner):
                raise InvalidRequest(f"cluster {cluster_id} already exists")
            if old is None and not host_ids:
                raise InvalidRequest(f"cluster {cluster_id}: a cluster needs at least one host")
            new = _joinable(db, cluster_id, site, owner, _unique(host_ids))
            if old is None:
                db.execute("INSERT INTO clusters VALUES (?, ?, ?, 0, '1.31', ?)", (cluster_id, site, owner, op_id))
            db.executemany("INSERT INTO cluster_nodes VALUES (?, ?)", [(h, cluster_id) for h in new])
            return _cluster(db, cluster_id)  # type: ignore[return-value]

        return await self._mutate("mcm.create_cluster", op_id, CLUSTER, act)

    async def add_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster:
        def act(db: sqlite3.Connection) -> Cluster:
            cl = _existing_cluster(db, cluster_id)
            new = _joinable(db, cluster_id, cl["site"], cl["owner"], _unique(host_ids))
            db.executemany("INSERT INTO cluster_nodes VALUES (?, ?)", [(h, cluster_id) for h in new])
            return _cluster(db, cluster_id)  # type: ignore[return-value]

        return await self._mutate("mcm.add_nodes", op_id, CLUSTER, act)

    async def remove_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster | None:
        """Drain the nodes (rescheduling their replicas elsewhere) or refuse if they no longer fit."""

        def act(db: sqlite3.Connection) -> Cluster | None:
            if _cluster(db, cluster_id) is None:
                return None
            nodes = {r["host"] for r in db.execute("SELECT host FROM cluster_nodes WHERE cluster = ?", (cluster_id,))}
            gone = [h for h in _unique(host_ids) if h in nodes]
            if gone:
                try:
                    _drain(db, cluster_id, frozenset(gone))
                except CapacityExhausted as e:
                    raise CapacityExhausted(f"cluster {cluster_id}: cannot remove nodes {gone}: {e}") from None
                db.executemany("DELETE FROM cluster_nodes WHERE host = ?", [(h,) for h in gone])
            return _cluster(db, cluster_id)

        return await self._mutate("mcm.remove_nodes", op_id, MAYBE_CLUSTER, act)

    async def delete_cluster(self, op_id: str, cluster_id: str) -> None:
        """Delete the cluster and every workload on it; its hosts stay allocated until PIM release."""

        def act(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT shared FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
            if row is None:
                return None
            if row["shared"]:
                raise InvalidRequest(f"cluster {cluster_id} is a shared cluster of the topology, not Legato's")
            for table, column in (("replicas", "cluster"), ("workloads", "cluster"),
                                  ("cluster_nodes", "cluster"), ("clusters", "id")):  # fmt: skip
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (cluster_id,))
            return None

        return await self._mutate("mcm.delete_cluster", op_id, NOTHING, act)

    # ---- WDM: workloads on clusters, scheduled replica by replica like kube-scheduler

    def workloads(self, cluster_id: str | None = None) -> list[WorkloadStatus]:
        with self._read() as db:
            rows = db.execute(
                "SELECT cluster, id FROM workloads WHERE ? IS NULL OR cluster = ? ORDER BY cluster, id",
                (cluster_id, cluster_id),
            ).fetchall()
            return [s for r in rows if (s := _status(db, r["cluster"], r["id"])) is not None]

    async def workload_status(self, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
        return await self._observe("wdm.status", lambda db: _status(db, cluster_id, workload_id))

    async def deploy(self, op_id: str, cluster_id: str, spec: WorkloadSpec) -> WorkloadStatus:
        """Create the workload, or update it in place when `spec.id` already runs on the cluster."""

        def act(db: sqlite3.Connection) -> WorkloadStatus:
            cl = _existing_cluster(db, cluster_id)
            if spec.replicas < 0:
                raise InvalidRequest(f"workload {spec.id}: replicas must be >= 0, not {spec.replicas}")
            old = _workload(db, cluster_id, spec.id)
            if old is not None and _same_template(old, spec):
                return self._rescale(db, cluster_id, spec.id, spec.replicas)
            need = _Need(spec.cpu, spec.memory_mb, spec.gpu, frozenset(spec.features))
            nodes = _free_nodes(db, cluster_id, skip_workload=spec.id)
            placed = _schedule(nodes, need, range(spec.replicas), spec.replicas, spec.id, cluster_id)
            endpoint = f"{spec.id}.{cluster_id}.{cl['site']}.sim:{spec.ports[0] if spec.ports else 80}"
            db.execute(
                "INSERT OR REPLACE INTO workloads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cluster_id, spec.id, spec.service_id, spec.tenant, spec.component, spec.image, spec.version,
                 spec.replicas, spec.cpu, spec.memory_mb, spec.gpu, json.dumps(sorted(spec.features)),
                 json.dumps(spec.ports), json.dumps(spec.env), json.dumps(spec.labels), endpoint),
            )  # fmt: skip
            db.execute("DELETE FROM replicas WHERE cluster = ? AND workload = ?", (cluster_id, spec.id))
            ready_at = self._ready_at(db)
            db.executemany(
                "INSERT INTO replicas VALUES (?, ?, ?, ?, ?)",
                [(cluster_id, spec.id, i, host, ready_at) for i, host in enumerate(placed)],
            )
            return _status(db, cluster_id, spec.id)  # type: ignore[return-value]

        return await self._mutate("wdm.deploy", op_id, WORKLOAD, act)

    async def scale(self, op_id: str, cluster_id: str, workload_id: str, replicas: int) -> WorkloadStatus:
        return await self._mutate(
            "wdm.scale", op_id, WORKLOAD, lambda db: self._rescale(db, cluster_id, workload_id, replicas)
        )

    def _rescale(self, db: sqlite3.Connection, cluster_id: str, workload_id: str, replicas: int) -> WorkloadStatus:
        """Keep running replicas; schedule the extra ones (all must fit) or stop the surplus."""
        w = _existing_workload(db, cluster_id, workload_id)
        if replicas < 0:
            raise InvalidRequest(f"workload {workload_id}: replicas must be >= 0, not {replicas}")
        have = w["replicas"]
        if replicas > have:
            need = _Need(w["cpu"], w["memory_mb"], w["gpu"], frozenset(json.loads(w["features"])))
            placed = _schedule(
                _free_nodes(db, cluster_id), need, range(have, replicas), replicas, workload_id, cluster_id
            )
            ready_at = self._ready_at(db)
            db.executemany(
                "INSERT INTO replicas VALUES (?, ?, ?, ?, ?)",
                [(cluster_id, workload_id, have + i, host, ready_at) for i, host in enumerate(placed)],
            )
        db.execute(
            "DELETE FROM replicas WHERE cluster = ? AND workload = ? AND idx >= ?", (cluster_id, workload_id, replicas)
        )
        db.execute(
            "UPDATE workloads SET replicas = ? WHERE cluster = ? AND id = ?", (replicas, cluster_id, workload_id)
        )
        return _status(db, cluster_id, workload_id)  # type: ignore[return-value]

    async def upgrade(self, op_id: str, cluster_id: str, workload_id: str, image: str, version: str) -> WorkloadStatus:
        def act(db: sqlite3.Connection) -> WorkloadStatus:
            _existing_workload(db, cluster_id, workload_id)
            key = (cluster_id, workload_id)
            db.execute(
                "UPDATE workloads SET image = ?, version = ? WHERE cluster = ? AND id = ?", (image, version, *key)
            )
            db.execute(
                "UPDATE replicas SET ready_at = ? WHERE cluster = ? AND workload = ?", (self._ready_at(db), *key)
            )
            return _status(db, cluster_id, workload_id)  # type: ignore[return-value]

        return await self._mutate("wdm.upgrade", op_id, WORKLOAD, act)

    async def remove(self, op_id: str, cluster_id: str, workload_id: str) -> None:
        def act(db: sqlite3.Connection) -> None:
            _delete_workload(db, cluster_id, workload_id)

        return await self._mutate("wdm.remove", op_id, NOTHING, act)

    # ---- TCM: links between sites and user-access QoS, checked against the topology

    def connections(self, service_id: str | None = None) -> list[Connection]:
        with self._read() as db:
            rows = db.execute(
                "SELECT id, service_id, kind, latency_ms FROM connections "
                "WHERE ? IS NULL OR service_id = ? ORDER BY id",
                (service_id, service_id),
            ).fetchall()
        return [Connection(**dict(r)) for r in rows]

    async def connect(self, op_id: str, link: LinkRequest) -> Connection:
        def act(db: sqlite3.Connection) -> Connection:
            topology = self._topology(db)
            a, b = link.source_site, link.target_site
            for site in (a, b):
                if site not in topology.sites:
                    raise InvalidRequest(f"link {link.id}: unknown site {site}")
            try:
                latency = topology.latency(a, b)
            except KeyError:
                raise InvalidRequest(f"link {link.id}: no latency is known between sites {a} and {b}") from None
            if latency > link.max_latency_ms + EPSILON:
                raise InvalidRequest(
                    f"link {link.id}: latency between sites {a} and {b} is {latency:g} ms, "
                    f"above the {link.max_latency_ms:g} ms the link allows"
                )
            capacity = min(topology.bandwidth(a, b), topology.bandwidth(b, a))
            used = db.execute(
                "SELECT COALESCE(SUM(bandwidth_mbps), 0) FROM connections WHERE kind = 'link' AND id != ? "
                "AND ((source = ? AND target = ?) OR (source = ? AND target = ?))",
                (link.id, a, b, b, a),
            ).fetchone()[0]
            if used + link.bandwidth_mbps > capacity + EPSILON:
                raise CapacityExhausted(
                    f"link {link.id}: sites {a} and {b} have {capacity:g} Mbps, {used:g} in use, "
                    f"{link.bandwidth_mbps:g} requested"
                )
            db.execute(
                "INSERT OR REPLACE INTO connections VALUES (?, ?, 'link', ?, ?, ?, ?, NULL, ?, ?)",
                (link.id, link.service_id, a, b, link.source_endpoint, link.target_endpoint,
                 link.bandwidth_mbps, latency),
            )  # fmt: skip
            return Connection(id=link.id, service_id=link.service_id, kind="link", latency_ms=latency)

        return await self._mutate("tcm.connect", op_id, CONNECTION, act)

    async def set_user_qos(self, op_id: str, qos: QosRequest) -> Connection:
        def act(db: sqlite3.Connection) -> Connection:
            try:
                latency = self._topology(db).area_latency(qos.area, qos.site)
            except KeyError:
                raise InvalidRequest(
                    f"qos {qos.id}: no latency is known from user area {qos.area} to site {qos.site}"
                ) from None
            if latency > qos.max_latency_ms + EPSILON:
                raise InvalidRequest(
                    f"qos {qos.id}: latency from user area {qos.area} to site {qos.site} is {latency:g} ms, "
                    f"above the {qos.max_latency_ms:g} ms required"
                )
            db.execute(
                "INSERT OR REPLACE INTO connections VALUES (?, ?, 'qos', ?, ?, NULL, ?, ?, ?, ?)",
                (qos.id, qos.service_id, qos.area, qos.site, qos.endpoint, qos.profile, qos.bandwidth_mbps, latency),
            )
            return Connection(id=qos.id, service_id=qos.service_id, kind="qos", latency_ms=latency)

        return await self._mutate("tcm.set_qos", op_id, CONNECTION, act)

    async def disconnect(self, op_id: str, link_id: str) -> None:
        def act(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM connections WHERE id = ? AND kind = 'link'", (link_id,))

        return await self._mutate("tcm.disconnect", op_id, NOTHING, act)

    async def clear_user_qos(self, op_id: str, qos_id: str) -> None:
        def act(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM connections WHERE id = ? AND kind = 'qos'", (qos_id,))

        return await self._mutate("tcm.clear_qos", op_id, NOTHING, act)

    # ---- inspection, for tests and operators

    def leftovers(self, service_id: str) -> dict[str, int]:
        """What the service still holds; all zeros once it is terminated or rolled back."""
        queries = {
            "hosts": "SELECT COUNT(*) FROM hosts WHERE owner = ?",
            "clusters": "SELECT COUNT(*) FROM clusters WHERE owner = ?",
            "workloads": "SELECT COUNT(*) FROM workloads WHERE service_id = ?",
            "connections": "SELECT COUNT(*) FROM connections WHERE service_id = ?",
        }
        with self._read() as db:
            return {name: db.execute(sql, (service_id,)).fetchone()[0] for name, sql in queries.items()}

    def duplicate_allocations(self) -> int:
        """Extra copies of one logical resource: a retry that acted twice instead of deduplicating.

        Counted: workloads per (service, component, cluster), connections per (service, kind, ends),
        clusters Legato created per (service, site). Hosts are not judged: from here a second
        allocation cannot be told from a scale-out.
        """
        groups = (
            "SELECT COUNT(*) AS n FROM workloads GROUP BY service_id, component, cluster",
            "SELECT COUNT(*) AS n FROM connections "
            "GROUP BY service_id, kind, source, target, source_endpoint, target_endpoint",
            "SELECT COUNT(*) AS n FROM clusters WHERE owner IS NOT NULL GROUP BY owner, site",
        )
        with self._read() as db:
            return sum(db.execute(f"SELECT COALESCE(SUM(n - 1), 0) FROM ({g})").fetchone()[0] for g in groups)

    def op_count(self, kind: str | None = None) -> int:
        """Operations that acted (deduplicated retries are not counted again)."""
        with self._read() as db:
            return db.execute("SELECT COUNT(*) FROM operations WHERE ? IS NULL OR kind = ?", (kind, kind)).fetchone()[0]

    def delete_workload_behind_back(self, workload_id: str) -> int:
        """Drift: the workload vanishes from every cluster without Legato asking (reconcile tests)."""
        with self._tx() as db:
            clusters = [r["cluster"] for r in db.execute("SELECT cluster FROM workloads WHERE id = ?", (workload_id,))]
            for cluster_id in clusters:
                _delete_workload(db, cluster_id, workload_id)
        return len(clusters)


# ---- helpers on an open transaction


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidRequest(f"unknown operation kind {kind!r}; known: {sorted(KINDS)}")


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _hosts(db: sqlite3.Connection, *, site: str | None = None, ids: list[str] | None = None) -> list[Host]:
    rows = db.execute(
        "SELECT h.*, n.cluster FROM hosts h LEFT JOIN cluster_nodes n ON n.host = h.id "
        "WHERE ? IS NULL OR h.site = ? ORDER BY h.site, h.id",
        (site, site),
    ).fetchall()
    hosts = {
        r["id"]: Host(
            id=r["id"], site=r["site"], cpu=r["cpu"], memory_mb=r["memory_mb"], gpu=r["gpu"],
            features=json.loads(r["features"]), state=r["state"], cluster=r["cluster"], service_id=r["owner"],
        )
        for r in rows
    }  # fmt: skip
    return list(hosts.values()) if ids is None else [hosts[i] for i in ids]


def _cluster(db: sqlite3.Connection, cluster_id: str) -> Cluster | None:
    row = db.execute("SELECT * FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
    if row is None:
        return None
    nodes = db.execute("SELECT host FROM cluster_nodes WHERE cluster = ? ORDER BY host", (cluster_id,))
    return Cluster(
        id=row["id"], site=row["site"], hosts=[n["host"] for n in nodes], shared=bool(row["shared"]),
        service_id=row["owner"], kubernetes_version=row["kubernetes_version"],
    )  # fmt: skip


def _existing_cluster(db: sqlite3.Connection, cluster_id: str) -> sqlite3.Row:
    row = db.execute("SELECT * FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
    if row is None:
        raise NotFound(f"cluster {cluster_id} does not exist")
    return row


def _joinable(db: sqlite3.Connection, cluster_id: str, site: str, owner: str | None, host_ids: list[str]) -> list[str]:
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


def _workload(db: sqlite3.Connection, cluster_id: str, workload_id: str) -> sqlite3.Row | None:
    return db.execute("SELECT * FROM workloads WHERE cluster = ? AND id = ?", (cluster_id, workload_id)).fetchone()


def _existing_workload(db: sqlite3.Connection, cluster_id: str, workload_id: str) -> sqlite3.Row:
    row = _workload(db, cluster_id, workload_id)
    if row is None:
        raise NotFound(f"workload {workload_id} does not exist on cluster {cluster_id}")
    return row


def _same_template(row: sqlite3.Row, spec: WorkloadSpec) -> bool:
    """True when a re-deploy changes nothing but the replica count (no restart needed)."""
    stored = (
        row["service_id"], row["tenant"], row["component"], row["image"], row["version"], row["cpu"],
        row["memory_mb"], row["gpu"], json.loads(row["features"]), json.loads(row["ports"]),
        json.loads(row["env"]), json.loads(row["labels"]),
    )  # fmt: skip
    wanted = (
        spec.service_id, spec.tenant, spec.component, spec.image, spec.version, spec.cpu, spec.memory_mb,
        spec.gpu, sorted(spec.features), spec.ports, spec.env, spec.labels,
    )  # fmt: skip
    return stored == wanted


def _delete_workload(db: sqlite3.Connection, cluster_id: str, workload_id: str) -> None:
    db.execute("DELETE FROM replicas WHERE cluster = ? AND workload = ?", (cluster_id, workload_id))
    db.execute("DELETE FROM workloads WHERE cluster = ? AND id = ?", (cluster_id, workload_id))


def _status(db: sqlite3.Connection, cluster_id: str, workload_id: str) -> WorkloadStatus | None:
    w = _workload(db, cluster_id, workload_id)
    if w is None:
        return None
    ready = db.execute(
        "SELECT COUNT(*) FROM replicas WHERE cluster = ? AND workload = ? AND ready_at <= ?",
        (cluster_id, workload_id, time.time()),
    ).fetchone()[0]
    return WorkloadStatus(
        id=w["id"], cluster=cluster_id, component=w["component"], service_id=w["service_id"],
        version=w["version"], replicas=w["replicas"], ready_replicas=ready, endpoint=w["endpoint"],
    )  # fmt: skip


def _free_nodes(
    db: sqlite3.Connection,
    cluster_id: str,
    *,
    skip_hosts: frozenset[str] = frozenset(),
    skip_workload: str | None = None,
) -> list[_Node]:
    """The cluster's nodes (by host id) with what their replicas leave free."""
    nodes = {
        r["id"]: _Node(r["id"], r["cpu"], r["memory_mb"], r["gpu"], frozenset(json.loads(r["features"])))
        for r in db.execute(
            "SELECT h.* FROM cluster_nodes n JOIN hosts h ON h.id = n.host WHERE n.cluster = ? ORDER BY h.id",
            (cluster_id,),
        )
        if r["id"] not in skip_hosts
    }
    for r in db.execute(
        "SELECT r.host, w.id, w.cpu, w.memory_mb, w.gpu FROM replicas r "
        "JOIN workloads w ON w.cluster = r.cluster AND w.id = r.workload WHERE r.cluster = ?",
        (cluster_id,),
    ):
        node = nodes.get(r["host"])
        if node is not None and r["id"] != skip_workload:
            node.cpu -= r["cpu"]
            node.memory_mb -= r["memory_mb"]
            node.gpu -= r["gpu"]
    return list(nodes.values())


def _fit(nodes: list[_Node], need: _Need) -> str | None:
    """First fit: the first node with the features and room; its free capacity shrinks."""
    for n in nodes:
        if (
            need.features <= n.features
            and n.cpu + EPSILON >= need.cpu
            and n.memory_mb >= need.memory_mb
            and n.gpu >= need.gpu
        ):
            n.cpu -= need.cpu
            n.memory_mb -= need.memory_mb
            n.gpu -= need.gpu
            return n.id
    return None


def _why(nodes: list[_Node], need: _Need) -> str:
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


def _schedule(
    nodes: list[_Node], need: _Need, indexes: range, total: int, workload_id: str, cluster_id: str
) -> list[str]:
    """The node of each replica in `indexes`; CapacityExhausted (nothing written) if one does not fit."""
    placed = []
    for i in indexes:
        host = _fit(nodes, need)
        if host is None:
            raise CapacityExhausted(
                f"workload {workload_id}: replica {i + 1} of {total} unschedulable on cluster {cluster_id}: "
                f"{_why(nodes, need)}"
            )
        placed.append(host)
    return placed


def _drain(db: sqlite3.Connection, cluster_id: str, gone: frozenset[str]) -> None:
    """Reschedule the replicas running on `gone` onto the remaining nodes, like a node drain."""
    nodes = _free_nodes(db, cluster_id, skip_hosts=gone)
    marks = ",".join("?" * len(gone))
    displaced = db.execute(
        "SELECT r.workload, r.idx, w.replicas, w.cpu, w.memory_mb, w.gpu, w.features FROM replicas r "
        "JOIN workloads w ON w.cluster = r.cluster AND w.id = r.workload "
        f"WHERE r.cluster = ? AND r.host IN ({marks}) ORDER BY r.workload, r.idx",
        (cluster_id, *sorted(gone)),
    ).fetchall()
    for r in displaced:
        need = _Need(r["cpu"], r["memory_mb"], r["gpu"], frozenset(json.loads(r["features"])))
        (host,) = _schedule(nodes, need, range(r["idx"], r["idx"] + 1), r["replicas"], r["workload"], cluster_id)
        db.execute(
            "UPDATE replicas SET host = ? WHERE cluster = ? AND workload = ? AND idx = ?",
            (host, cluster_id, r["workload"], r["idx"]),
        )
