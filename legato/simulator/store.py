"""The simulator's storage and the two shapes of a call (a deduplicated mutation, a faultable
observation). State, faults and timing live in the SQLite file so any process can read or set them."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter

from legato.adapters.errors import InvalidRequest, PermanentFault, TransientFault
from legato.adapters.sqlite import transaction
from legato.model import Topology
from legato.model.versions import canonical
from legato.simulator import schema
from legato.simulator.versions import DEFAULT_VERSION

KINDS = frozenset(
    {
        "pim.allocate", "pim.release", "pim.transfer",
        "mcm.create_cluster", "mcm.add_nodes", "mcm.drain_nodes", "mcm.remove_nodes", "mcm.delete_cluster",
        "mcm.upgrade_control_plane", "mcm.upgrade_nodes",
        "wdm.deploy", "wdm.status", "wdm.metrics", "wdm.scale", "wdm.upgrade", "wdm.remove",
        "tcm.connect", "tcm.disconnect", "tcm.set_qos", "tcm.clear_qos",
    }
)  # fmt: skip

EPSILON = 1e-9
T = TypeVar("T")


class Store:
    """The file, its transactions, and the knobs a test sets from outside (faults, latencies, delays)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._topology_cache: tuple[str, Topology] | None = None
        self._local = threading.local()
        db = self._connect()
        try:
            db.execute("PRAGMA journal_mode=WAL")
            schema.prepare(db)
        finally:
            db.close()

    # ---- storage: one connection per thread (never shared between threads, tasks or processes),
    # reused across calls: opening one per call cost more than the transaction itself

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        db.row_factory = sqlite3.Row
        return db

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a forked child must not reuse its parent's
            local.db, local.pid = self._connect(), os.getpid()
        return local.db

    def _tx(self, mode: str = "IMMEDIATE") -> AbstractContextManager[sqlite3.Connection]:
        """One transaction; IMMEDIATE takes the write lock up front so check-then-act is atomic."""
        return transaction(self._connection(), mode)

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
                    version = canonical(c.kubernetes_version or DEFAULT_VERSION)
                    db.execute(
                        "INSERT INTO clusters (id, site, owner, shared, kubernetes_version) VALUES (?, ?, NULL, 1, ?)",
                        (c.id, site_id, version),
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
                        db.execute("INSERT INTO cluster_nodes (host, cluster, version) VALUES (?, ?, ?)",
                                   (host_id, c.id, version))
            db.execute("INSERT INTO meta VALUES ('topology', ?)", (topology.model_dump_json(),))
        return True

    def reset(self) -> None:
        """Wipe everything, topology, history and faults included (tests)."""
        with self._tx() as db:
            for table in schema.TABLES:
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

    def op_count(self, kind: str | None = None) -> int:
        """Operations that acted (deduplicated retries are not counted again)."""
        with self._read() as db:
            return db.execute("SELECT COUNT(*) FROM operations WHERE ? IS NULL OR kind = ?", (kind, kind)).fetchone()[0]

    def op_ids(self, kind: str) -> list[str]:
        """The operation ids that acted for one kind, oldest first (what the backend was asked)."""
        with self._read() as db:
            rows = db.execute("SELECT op_id FROM operations WHERE kind = ? ORDER BY rowid", (kind,)).fetchall()
        return [r[0] for r in rows]

    # ---- fault injection and timing, stored in the file so any process can set them

    def set_fault(
        self, kind: str, transient_rate: float = 0.0, permanent: bool = False, *, phase: str | None = None,
        permanent_rate: float = 0.0,
    ) -> None:
        """Inject faults on `kind`: `permanent` fails every call, `permanent_rate` that share of calls
        (chaos runs); `phase` pins transient faults to "before" or "after" the action."""
        check_kind(kind)
        for name, rate in (("transient_rate", transient_rate), ("permanent_rate", permanent_rate)):
            if not 0.0 <= rate <= 1.0:
                raise InvalidRequest(f"{name} must be between 0 and 1, not {rate}")
        permanent = 1.0 if permanent else permanent_rate  # stored as the probability of a permanent fault
        if phase not in (None, "before", "after"):
            raise InvalidRequest(f"phase must be 'before', 'after' or None, not {phase!r}")
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO faults VALUES (?, ?, ?, ?)", (kind, transient_rate, permanent, phase))

    def set_error_rate(self, version: str, rate: float) -> None:
        """Every replica running `version` fails this share of its requests (a bad release to catch)."""
        if not 0.0 <= rate <= 1.0:
            raise InvalidRequest(f"error rate must be between 0 and 1, not {rate}")
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO error_rates VALUES (?, ?)", (version, rate))

    def set_never_ready(self, version: str, never: bool = True) -> None:
        """Replicas of `version` started from now on never become ready (an image that never pulls,
        a readiness probe that never passes): what a progress deadline exists for."""
        with self._tx() as db:
            if never:
                db.execute("INSERT OR REPLACE INTO stuck_versions VALUES (?)", (version,))
            else:
                db.execute("DELETE FROM stuck_versions WHERE version = ?", (version,))

    def clear_faults(self) -> None:
        """Remove every injected fault: operation faults, version error rates, never-ready versions."""
        with self._tx() as db:
            db.execute("DELETE FROM faults")
            db.execute("DELETE FROM error_rates")
            db.execute("DELETE FROM stuck_versions")

    def set_latency(self, kind: str, seconds: float) -> None:
        check_kind(kind)
        if seconds < 0:
            raise InvalidRequest(f"latency must be >= 0 seconds, not {seconds}")
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO latencies VALUES (?, ?)", (kind, seconds))

    def set_ready_delay(self, seconds: float) -> None:
        """How long a deployed, scaled, upgraded or rescheduled replica takes to become ready."""
        if seconds < 0:
            raise InvalidRequest(f"ready delay must be >= 0 seconds, not {seconds}")
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES ('ready_delay', ?)", (seconds,))

    @staticmethod
    def _ready_delay(db: sqlite3.Connection) -> float:
        row = db.execute("SELECT value FROM settings WHERE key = 'ready_delay'").fetchone()
        return row["value"] if row else 0.0

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
        if row["permanent"] and random.random() < float(row["permanent"]):
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


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidRequest(f"unknown operation kind {kind!r}; known: {sorted(KINDS)}")


def unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))
