"""One operation at a time per cluster: the claim an UpgradeCluster run holds on its cluster while
it rolls, so a second upgrade is refused (409) instead of draining the same nodes twice. The claim
is the workflow's, taken and given back by its activities; the API only reads it."""

from __future__ import annotations

from legato.inventory.store import Store
from legato.inventory.tables import ClusterOperationRow


class ClusterOperations(Store):
    def claim_cluster(self, cluster_id: str, workflow_id: str, kind: str, detail: str = "",
                      stale: frozenset[str] = frozenset()) -> str | None:
        """Take the cluster for `workflow_id` (again, if it holds it already). Returns the holder
        when another workflow holds it; a holder named in `stale` (its workflow is over) is replaced."""
        with self.session() as s:
            row = s.get(ClusterOperationRow, cluster_id, with_for_update=True)
            if row is not None and row.workflow_id != workflow_id and row.workflow_id not in stale:
                return row.workflow_id
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

    def cluster_operation(self, cluster_id: str) -> ClusterOperationRow | None:
        with self.session() as s:
            return s.get(ClusterOperationRow, cluster_id)
