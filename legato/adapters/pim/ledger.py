"""Who holds each bare-metal host. A BMC knows power and boot, not ownership, so the Redfish PIM
keeps this ledger in its own SQLite file (like Metal3 keeps BareMetalHost objects): a claim is one
transaction, and every mutating call records its result under its operation id, so a retry
answers what the first call did."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from legato.adapters.sqlite import transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS holds (host TEXT PRIMARY KEY, site TEXT NOT NULL, owner TEXT NOT NULL,
                                  allocation_op TEXT NOT NULL, ready INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS operations (kind TEXT NOT NULL, op_id TEXT NOT NULL, result TEXT NOT NULL,
                                       PRIMARY KEY (kind, op_id));
"""


@dataclass(frozen=True)
class Hold:
    host: str
    site: str
    owner: str
    allocation_op: str
    ready: bool = False

    @classmethod
    def of(cls, row: sqlite3.Row) -> Hold:
        return cls(row["host"], row["site"], row["owner"], row["allocation_op"], bool(row["ready"]))


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        if getattr(self._local, "db", None) is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return self._local.db

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db())

    def holds(self, hosts: list[str] | None = None) -> dict[str, Hold]:
        with self._tx() as db:
            rows = db.execute("SELECT * FROM holds").fetchall()
        return {r["host"]: Hold.of(r) for r in rows if hosts is None or r["host"] in hosts}

    def done(self, kind: str, op_id: str) -> Any | None:
        with self._tx() as db:
            row = db.execute("SELECT result FROM operations WHERE kind = ? AND op_id = ?", (kind, op_id)).fetchone()
        return None if row is None else json.loads(row["result"])

    def claim(
        self, op_id: str, site: str, owner: str, hosts: list[str], blocked: Collection[str] = ()
    ) -> dict[str, Hold]:
        """Hold every host for `op_id`, or none. Returns the holds of other operations on these
        hosts, all of them (empty when the claim is made), so the refusal can name every taken host
        at once; nothing is claimed either when some host is `blocked` for another reason."""
        with self._tx() as db:
            taken = {}
            for host in hosts:
                row = db.execute("SELECT * FROM holds WHERE host = ?", (host,)).fetchone()
                if row is not None and row["allocation_op"] != op_id:
                    taken[host] = Hold.of(row)
            if taken or blocked:
                return taken
            db.executemany(
                "INSERT OR IGNORE INTO holds (host, site, owner, allocation_op) VALUES (?, ?, ?, ?)",
                [(h, site, owner, op_id) for h in hosts],
            )
            return {}

    def mark_ready(self, op_id: str, hosts: list[str], result: Any) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE holds SET ready = 1 WHERE host = ? AND allocation_op = ?", [(h, op_id) for h in hosts]
            )
            db.execute("INSERT OR REPLACE INTO operations VALUES ('allocate', ?, ?)", (op_id, json.dumps(result)))

    def free(self, op_id: str, allocation_op_id: str, hosts: list[str], result: Any) -> None:
        with self._tx() as db:
            db.executemany(
                "DELETE FROM holds WHERE host = ? AND allocation_op = ?", [(h, allocation_op_id) for h in hosts]
            )
            db.execute("INSERT OR REPLACE INTO operations VALUES ('release', ?, ?)", (op_id, json.dumps(result)))

    def transfer(self, op_id: str, allocation_op_id: str, hosts: list[str], owner: str) -> list[str]:
        """Hand the hosts `allocation_op_id` holds to `owner`, held from now on under `op_id`. The
        check, the move and the record are one transaction, so a retry (or a racing twin) answers
        what the first call did and never moves a host twice."""
        with self._tx() as db:
            row = db.execute("SELECT result FROM operations WHERE kind = 'transfer' AND op_id = ?", (op_id,)).fetchone()
            if row is not None:
                return json.loads(row["result"])
            rows = db.execute("SELECT host FROM holds WHERE allocation_op = ?", (allocation_op_id,)).fetchall()
            held = {r["host"] for r in rows}
            moved = [h for h in dict.fromkeys(hosts) if h in held]
            db.executemany(
                "UPDATE holds SET owner = ?, allocation_op = ? WHERE host = ? AND allocation_op = ?",
                [(owner, op_id, h, allocation_op_id) for h in moved],
            )
            db.execute("INSERT INTO operations VALUES ('transfer', ?, ?)", (op_id, json.dumps(moved)))
            return moved
