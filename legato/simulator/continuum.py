"""The whole simulated continuum: the four managers' parts on one file, plus inspection for tests."""

from __future__ import annotations

import time

from legato.adapters.errors import InvalidRequest
from legato.simulator import rows
from legato.simulator.health import HealthPart
from legato.simulator.history import HistoryPart
from legato.simulator.kpis import KpiPart
from legato.simulator.mcm import McmPart
from legato.simulator.pim import PimPart
from legato.simulator.tcm import TcmPart
from legato.simulator.upgrades import UpgradePart
from legato.simulator.wdm import WdmPart


class SimContinuum(PimPart, McmPart, UpgradePart, WdmPart, TcmPart, HistoryPart, KpiPart, HealthPart):
    """One simulated continuum, stored at `path`; open it from as many processes as needed."""

    def leftovers(self, service_id: str) -> dict[str, int]:
        """What the service still holds; all zeros once it is terminated or rolled back."""
        queries = {
            "hosts": "SELECT COUNT(*) FROM hosts WHERE owner = ?",
            "clusters": "SELECT COUNT(*) FROM clusters WHERE owner = ?",
            "workloads": "SELECT COUNT(*) FROM workloads WHERE service_id = ?",
            "connections": "SELECT COUNT(*) FROM connections WHERE service_id = ? AND removed_at IS NULL",
        }
        with self._read() as db:
            return {name: db.execute(sql, (service_id,)).fetchone()[0] for name, sql in queries.items()}

    def duplicate_allocations(self) -> int:
        """Extra copies of one logical resource: a retry that acted twice instead of deduplicating.

        Counted: workloads per (service, component, cluster), open connections per (service, kind,
        ends), clusters Legato created per (service, site). Hosts are not judged: from here a second
        allocation cannot be told from a scale-out.
        """
        groups = (
            "SELECT COUNT(*) AS n FROM workloads GROUP BY service_id, component, cluster",
            "SELECT COUNT(*) AS n FROM connections WHERE removed_at IS NULL "
            "GROUP BY service_id, kind, source, target, source_endpoint, target_endpoint",
            "SELECT COUNT(*) AS n FROM clusters WHERE owner IS NOT NULL GROUP BY owner, site",
        )
        with self._read() as db:
            return sum(db.execute(f"SELECT COALESCE(SUM(n - 1), 0) FROM ({g})").fetchone()[0] for g in groups)

    def power_off_behind_back(self, host_id: str) -> None:
        """Drift: someone powers a host off at its BMC (reconcile must report it, not fix it)."""
        with self._tx() as db:
            db.execute("UPDATE hosts SET power = 'off' WHERE id = ?", (host_id,))

    def fail_host(self, host_id: str) -> int:
        """A host dies: powered off, and every replica on it stops now (its node is gone for the
        scheduler too). Nothing restarts them by itself: what a failure costs the services on it
        shows in their serving state and history. Returns the replicas it ran."""
        now = time.time()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM hosts WHERE id = ?", (host_id,)).fetchone() is None:
                raise InvalidRequest(f"unknown host '{host_id}'")
            db.execute("UPDATE hosts SET power = 'off' WHERE id = ?", (host_id,))
            return rows.stop_node(db, now, host_id)

    def fail_site(self, site: str) -> int:
        """The site loses power: every host of it fails (fail_host). Returns the replicas it ran."""
        return sum(self.fail_host(h) for h in self.site_hosts(site))

    def delete_workload_behind_back(self, workload_id: str) -> int:
        """Drift: the workload vanishes from every cluster without Legato asking (reconcile tests)."""
        with self._tx() as db:
            clusters = [r["cluster"] for r in db.execute("SELECT cluster FROM workloads WHERE id = ?", (workload_id,))]
            for cluster_id in clusters:
                rows.retire_replicas(db, time.time(), cluster_id, workload_id)
                db.execute("DELETE FROM workloads WHERE cluster = ? AND id = ?", (cluster_id, workload_id))
        return len(clusters)
