"""PIM part of the simulated continuum: whole bare-metal hosts, allocated to one owner at a time."""

from __future__ import annotations

import json
import sqlite3

from pydantic import TypeAdapter

from legato.adapters.errors import CapacityExhausted, InvalidRequest
from legato.model import Host
from legato.simulator.store import Store, unique

HOSTS = TypeAdapter(list[Host])
HOST_IDS = TypeAdapter(list[str])


class PimPart(Store):
    def hosts(self, site: str | None = None) -> list[Host]:
        with self._read() as db:
            return hosts(db, site=site)

    def host_power(self, host_id: str) -> str | None:
        """ "on" / "off" (None for an unknown host): power is not part of the Host model."""
        with self._read() as db:
            row = db.execute("SELECT power FROM hosts WHERE id = ?", (host_id,)).fetchone()
        return row["power"] if row else None

    async def allocate_hosts(self, op_id: str, site: str, host_ids: list[str], owner: str) -> list[Host]:
        def act(db: sqlite3.Connection) -> list[Host]:
            if not owner:
                raise InvalidRequest("owner: the service allocating hosts is required")
            ids = unique(host_ids)
            taken = []
            for host_id in ids:
                row = db.execute("SELECT site, state FROM hosts WHERE id = ?", (host_id,)).fetchone()
                if row is None or row["site"] != site:
                    raise InvalidRequest(f"host {host_id} does not exist at site {site}")
                if row["state"] != "free":
                    taken.append(host_id)
            if taken:
                raise CapacityExhausted(f"host {', '.join(taken)} at site {site} is already allocated",
                                        resources=[f"host:{h}" for h in taken])
            db.executemany(
                "UPDATE hosts SET state = 'allocated', power = 'on', owner = ?, allocation_op = ? WHERE id = ?",
                [(owner, op_id, h) for h in ids],
            )
            return hosts(db, ids=ids)

        return await self._mutate("pim.allocate", op_id, HOSTS, act)

    async def release_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str]) -> list[str]:
        def act(db: sqlite3.Connection) -> list[str]:
            held = [
                h
                for h in unique(host_ids)
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

    async def transfer_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str], owner: str) -> list[str]:
        """Hand hosts to another owner (a shared cluster's pool) as they are: powered on, nodes still."""

        def act(db: sqlite3.Connection) -> list[str]:
            if not owner:
                raise InvalidRequest("owner: the new owner of the hosts is required")
            held = [h for h in unique(host_ids)
                    if db.execute("SELECT 1 FROM hosts WHERE id = ? AND allocation_op = ?", (h, allocation_op_id))
                    .fetchone()]
            db.executemany("UPDATE hosts SET owner = ?, allocation_op = ? WHERE id = ?",
                           [(owner, op_id, h) for h in held])
            return held

        return await self._mutate("pim.transfer", op_id, HOST_IDS, act)


def hosts(db: sqlite3.Connection, *, site: str | None = None, ids: list[str] | None = None) -> list[Host]:
    rows = db.execute(
        "SELECT h.*, n.cluster FROM hosts h LEFT JOIN cluster_nodes n ON n.host = h.id "
        "WHERE ? IS NULL OR h.site = ? ORDER BY h.site, h.id",
        (site, site),
    ).fetchall()
    found = {
        r["id"]: Host(
            id=r["id"], site=r["site"], cpu=r["cpu"], memory_mb=r["memory_mb"], gpu=r["gpu"],
            features=json.loads(r["features"]), state=r["state"], cluster=r["cluster"], service_id=r["owner"],
            power=r["power"],
        )
        for r in rows
    }  # fmt: skip
    return list(found.values()) if ids is None else [found[i] for i in ids]
