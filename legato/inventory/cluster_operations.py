"""Who operates a cluster. An upgrade runs alone: UpgradeCluster claims the cluster (one row of
cluster_operations) and a second upgrade, or an upgrade while a scaling runs, is refused (409)
instead of draining the same nodes twice or missing a node that joined mid-roll. Scalings share:
every ScaleCluster run (a service growing or giving back nodes, an operator's scale, reconcile's
pool give-back) joins the cluster (a row of cluster_scalings) and waits while an upgrade holds it.

Both sides lock the cluster's row first, so a claim and a join cannot both pass their checks. The
rows are the workflows', taken and given back by their activities; a row whose workflow is over
(terminated from the Web UI before it gave it back) is named `stale` by the caller and dropped."""

from __future__ import annotations

from sqlmodel import select

from legato.inventory.store import Store
from legato.inventory.tables import ClusterOperationRow, ClusterRow, ClusterScalingRow


class ClusterOperations(Store):
    def claim_cluster(self, cluster_id: str, workflow_id: str, kind: str, detail: str = "",
                      stale: frozenset[str] = frozenset()) -> str | None:
        """Take the cluster for `workflow_id` alone (again, if it holds it already). Returns the
        workflow in the way: another claim's holder, or a scaling under way."""
        with self.session() as s:
            s.get(ClusterRow, cluster_id, with_for_update=True)
            row = s.get(ClusterOperationRow, cluster_id, with_for_update=True)
            if row is not None and row.workflow_id != workflow_id and row.workflow_id not in stale:
                return row.workflow_id
            scaling = self._scalings(s, cluster_id, stale)
            if scaling:
                return scaling[0]
            if row is not None:
                s.delete(row)
                s.flush()
            s.add(ClusterOperationRow(cluster_id=cluster_id, workflow_id=workflow_id, kind=kind, detail=detail))
            return None

    def release_cluster(self, cluster_id: str, workflow_id: str) -> None:
        """Give the cluster back, if `workflow_id` holds it (idempotent)."""
        with self.session() as s:
            row = s.get(ClusterOperationRow, cluster_id, with_for_update=True)
            if row is not None and row.workflow_id == workflow_id:
                s.delete(row)

    def join_cluster(self, cluster_id: str, workflow_id: str, stale: frozenset[str] = frozenset()) -> str | None:
        """Count `workflow_id` among the scalings of the cluster (idempotent), unless an upgrade
        holds it: then nothing is written and the upgrade's workflow is returned."""
        with self.session() as s:
            s.get(ClusterRow, cluster_id, with_for_update=True)
            row = s.get(ClusterOperationRow, cluster_id)
            if row is not None and row.workflow_id not in stale:
                return row.workflow_id
            if row is not None:
                s.delete(row)
            if s.get(ClusterScalingRow, (cluster_id, workflow_id)) is None:
                s.add(ClusterScalingRow(cluster_id=cluster_id, workflow_id=workflow_id))
            return None

    def leave_cluster(self, cluster_id: str, workflow_id: str) -> None:
        with self.session() as s:
            row = s.get(ClusterScalingRow, (cluster_id, workflow_id))
            if row is not None:
                s.delete(row)

    def cluster_operation(self, cluster_id: str) -> ClusterOperationRow | None:
        with self.session() as s:
            return s.get(ClusterOperationRow, cluster_id)

    def cluster_scalings(self, cluster_id: str) -> list[str]:
        """The workflows of the scalings under way on the cluster, oldest first."""
        with self.session() as s:
            return self._scalings(s, cluster_id, frozenset())

    @staticmethod
    def _scalings(s, cluster_id: str, stale: frozenset[str]) -> list[str]:
        rows = s.exec(select(ClusterScalingRow).where(ClusterScalingRow.cluster_id == cluster_id)
                      .order_by(ClusterScalingRow.since)).all()
        for row in rows:
            if row.workflow_id in stale:
                s.delete(row)
        return [r.workflow_id for r in rows if r.workflow_id not in stale]
