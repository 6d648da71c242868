"""TCM part of the simulated continuum: links between sites and user-access QoS sessions,
checked against the topology. Each keeps the endpoint it serves and its lifetime."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from pydantic import TypeAdapter

from legato.adapters.errors import CapacityExhausted, InvalidRequest
from legato.model.connectivity import Connection, LinkRequest, QosRequest
from legato.simulator.store import EPSILON, Store

CONNECTION = TypeAdapter(Connection)
NOTHING = TypeAdapter(None)
FIELDS = ("service_id", "kind", "source", "target", "source_endpoint", "target_endpoint", "profile",
          "bandwidth_mbps", "latency_ms")  # fmt: skip


class TcmPart(Store):
    def connections(self, service_id: str | None = None) -> list[Connection]:
        with self._read() as db:
            found = db.execute(
                "SELECT id, service_id, kind, latency_ms FROM connections "
                "WHERE removed_at IS NULL AND (? IS NULL OR service_id = ?) ORDER BY id",
                (service_id, service_id),
            ).fetchall()
        return [Connection(**dict(r)) for r in found]

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
                "SELECT COALESCE(SUM(bandwidth_mbps), 0) FROM connections WHERE removed_at IS NULL "
                "AND kind = 'link' AND id != ? AND ((source = ? AND target = ?) OR (source = ? AND target = ?))",
                (link.id, a, b, b, a),
            ).fetchone()[0]
            if used + link.bandwidth_mbps > capacity + EPSILON:
                raise CapacityExhausted(
                    f"link {link.id}: sites {a} and {b} have {capacity:g} Mbps, {used:g} in use, "
                    f"{link.bandwidth_mbps:g} requested", resources=[f"link:{min(a, b)}|{max(a, b)}"],
                )
            values = (link.service_id, "link", a, b, link.source_endpoint, link.target_endpoint, None,
                      link.bandwidth_mbps, latency)  # fmt: skip
            open_connection(db, link.id, dict(zip(FIELDS, values, strict=True)))
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
            values = (qos.service_id, "qos", qos.area, qos.site, None, qos.endpoint, qos.profile,
                      qos.bandwidth_mbps, latency)  # fmt: skip
            open_connection(db, qos.id, dict(zip(FIELDS, values, strict=True)))
            return Connection(id=qos.id, service_id=qos.service_id, kind="qos", latency_ms=latency)

        return await self._mutate("tcm.set_qos", op_id, CONNECTION, act)

    async def disconnect(self, op_id: str, link_id: str) -> None:
        return await self._mutate("tcm.disconnect", op_id, NOTHING, lambda db: close_connection(db, link_id, "link"))

    async def clear_user_qos(self, op_id: str, qos_id: str) -> None:
        return await self._mutate("tcm.clear_qos", op_id, NOTHING, lambda db: close_connection(db, qos_id, "qos"))


def open_connection(db: sqlite3.Connection, connection_id: str, values: dict[str, Any]) -> None:
    """Open it, or keep it as is when it is already open the same way; a change replaces it now."""
    now = time.time()
    old = db.execute("SELECT * FROM connections WHERE id = ? AND removed_at IS NULL", (connection_id,)).fetchone()
    if old is not None and all(old[k] == v for k, v in values.items()):
        return
    if old is not None:
        db.execute("UPDATE connections SET removed_at = ? WHERE seq = ?", (now, old["seq"]))
    marks = ", ".join("?" for _ in FIELDS)
    db.execute(
        f"INSERT INTO connections (id, {', '.join(FIELDS)}, created_at) VALUES (?, {marks}, ?)",
        (connection_id, *values.values(), now),
    )


def close_connection(db: sqlite3.Connection, connection_id: str, kind: str) -> None:
    """Idempotent: closing what is not open succeeds."""
    db.execute(
        "UPDATE connections SET removed_at = ? WHERE id = ? AND kind = ? AND removed_at IS NULL",
        (time.time(), connection_id, kind),
    )
