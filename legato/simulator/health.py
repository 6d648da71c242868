"""Health of the simulated hosts, clusters and sites as it is now, and the failures that change it:
a host dying or coming back (its BMC's power), a node NotReady on a host still on (its kubelet
gone), a cluster out of reach (its API server gone, and the
pods with it, as when a kwok cluster is stopped), a whole site losing power. One reading, no
smoothing: confirming a failure over a window that tolerates blips is the reader's job."""

from __future__ import annotations

import time

from legato.adapters.errors import InvalidRequest
from legato.model.telemetry import ClusterHealth, HealthReport, HostHealth, SiteHealth
from legato.simulator import rows
from legato.simulator.store import Store


class HealthPart(Store):
    def fail_cluster(self, cluster_id: str) -> int:
        """The cluster's API stops answering and its pods stop (the MCM and WDM calls that change it
        fail as transient faults until it is back). Returns the replicas it ran."""
        now = time.time()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM clusters WHERE id = ?", (cluster_id,)).fetchone() is None:
                raise InvalidRequest(f"unknown cluster '{cluster_id}'")
            db.execute("INSERT OR IGNORE INTO cluster_outages VALUES (?, ?)", (cluster_id, now))
            stopped = db.execute(f"UPDATE replicas SET removed_at = :now WHERE cluster = :c AND {rows.live()}",
                                 {"now": now, "c": cluster_id}).rowcount
            db.execute("DELETE FROM replicas WHERE cluster = :c AND created_at > :now", {"now": now, "c": cluster_id})
        return stopped

    def recover_cluster(self, cluster_id: str) -> None:
        """Its API answers again; the pods it ran are not restarted (their workloads are as the
        controllers left them: the orchestrator's to re-create or remove)."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM clusters WHERE id = ?", (cluster_id,)).fetchone() is None:
                raise InvalidRequest(f"unknown cluster '{cluster_id}'")
            db.execute("DELETE FROM cluster_outages WHERE cluster = ?", (cluster_id,))

    def fail_node(self, host_id: str) -> int:
        """The host stays on but its node goes NotReady (the kubelet stopped): its pods stop serving
        and nothing is scheduled there. Returns the replicas it ran."""
        now = time.time()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM cluster_nodes WHERE host = ?", (host_id,)).fetchone() is None:
                raise InvalidRequest(f"host '{host_id}' is no cluster's node")
            db.execute("INSERT OR IGNORE INTO node_outages VALUES (?, ?)", (host_id, now))
            return rows.stop_node(db, now, host_id)

    def recover_host(self, host_id: str) -> None:
        """A failed host, or its NotReady node, is back: powered on, Ready, schedulable (empty)."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM hosts WHERE id = ?", (host_id,)).fetchone() is None:
                raise InvalidRequest(f"unknown host '{host_id}'")
            db.execute("UPDATE hosts SET power = 'on' WHERE id = ? AND state = 'allocated'", (host_id,))
            db.execute("UPDATE cluster_nodes SET cordoned = 0 WHERE host = ?", (host_id,))
            db.execute("DELETE FROM node_outages WHERE host = ?", (host_id,))

    def site_hosts(self, site: str) -> list[str]:
        with self._read() as db:
            found = [r["id"] for r in db.execute("SELECT id FROM hosts WHERE site = ? ORDER BY id", (site,))]
        if not found:
            raise InvalidRequest(f"site '{site}' has no host in the simulated continuum")
        return found

    def health(self, site: str | None = None) -> HealthReport:
        now = time.time()
        with self._read() as db:
            found = db.execute(
                "SELECT h.id, h.site, h.state, h.power, n.cluster, o.since AS not_ready FROM hosts h "
                "LEFT JOIN cluster_nodes n ON n.host = h.id LEFT JOIN node_outages o ON o.host = h.id "
                "WHERE ? IS NULL OR h.site = ? ORDER BY h.site, h.id", (site, site)).fetchall()
            clusters = db.execute("SELECT c.id, c.site, o.since FROM clusters c LEFT JOIN cluster_outages o "
                                  "ON o.cluster = c.id WHERE ? IS NULL OR c.site = ? ORDER BY c.id",
                                  (site, site)).fetchall()
        hosts = [host_health(r) for r in found]
        nodes: dict[str, list[HostHealth]] = {}
        for h in hosts:
            if h.cluster is not None:
                nodes.setdefault(h.cluster, []).append(h)
        cluster_report = [cluster_health(r["id"], r["site"], r["since"] is not None, nodes.get(r["id"], []))
                          for r in clusters]  # fmt: skip
        sites = sorted({h.site for h in hosts} | {c.site for c in cluster_report})
        return HealthReport(at=now, hosts=hosts, clusters=cluster_report,
                            sites=[site_health(s, [h for h in hosts if h.site == s]) for s in sites])


def host_health(r) -> HostHealth:
    """A free host is off by design (the PIM powers off what it frees): idle, not failed."""
    off = r["power"] != "on" and r["state"] != "free"
    reason = None
    if off:
        reason = "power off: node NotReady" if r["cluster"] else "power off"
    elif r["not_ready"] is not None and r["cluster"]:
        reason = "node NotReady"
    down = reason is not None
    return HostHealth(id=r["id"], site=r["site"], cluster=r["cluster"], power=r["power"], healthy=not down,
                      reason=reason)


def cluster_health(cluster_id: str, site: str, unreachable: bool, nodes: list[HostHealth]) -> ClusterHealth:
    reason = None
    if unreachable:
        reason = "API unreachable"
    elif not nodes:
        reason = "no node"
    elif not any(n.healthy for n in nodes):
        reason = "every node NotReady"
    return ClusterHealth(id=cluster_id, site=site, healthy=reason is None, reason=reason)


def site_health(site: str, hosts: list[HostHealth]) -> SiteHealth:
    """Down when every host in use is down (a site whose hosts are all free has nothing to lose)."""
    used = [h for h in hosts if h.cluster is not None or h.power == "on" or not h.healthy]
    down = bool(used) and not any(h.healthy for h in used)
    return SiteHealth(id=site, healthy=not down, reason="every host down" if down else None)
