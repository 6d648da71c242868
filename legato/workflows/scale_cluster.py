"""ScaleCluster: grow a cluster (PIM allocate -> MCM add nodes) or shrink it (MCM remove -> PIM release)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import AllocateHosts, ChangeNodes, ReleaseHosts
    from legato.model import Cluster
    from legato.workflows.contracts import ScaleClusterRequest
    from legato.workflows.options import STEP, UNDO
    from legato.workflows.progress import error_text
    from legato.workflows.saga import Saga


def allocation_op(workflow_id: str) -> str:
    """The op id under which a ScaleCluster run allocates its hosts (needed to give them back)."""
    return f"{workflow_id}/allocate-hosts"


@workflow.defn(name="ScaleCluster")
class ScaleCluster:
    @workflow.run
    async def run(self, req: ScaleClusterRequest) -> Cluster | None:
        wid = workflow.info().workflow_id
        cluster: Cluster | None = None
        if req.add_hosts:
            saga = Saga([])
            alloc = allocation_op(wid)
            try:
                saga.activity("hosts", "allocate-hosts", "pim.release_hosts", self._release_req(
                    req, alloc, f"{wid}/undo-allocate", req.add_hosts))
                await workflow.execute_activity(
                    "pim.allocate_hosts",
                    AllocateHosts(op_id=alloc, service_id=req.service_id, step=f"allocate-hosts@{req.site}",
                                  site=req.site, host_ids=req.add_hosts),
                    **STEP,
                )
                saga.activity("nodes", "add-nodes", "mcm.remove_nodes", self._nodes_req(
                    req, f"{wid}/undo-add-nodes", req.add_hosts))
                cluster = await workflow.execute_activity(
                    "mcm.add_nodes", self._nodes_req(req, f"{wid}/add-nodes", req.add_hosts, "add-nodes"),
                    result_type=Cluster, **STEP)
            except Exception as err:
                await saga.unwind()
                raise ApplicationError(f"scale-up of {req.cluster_id} failed: {error_text(err)}",
                                       type="ScaleClusterFailed", non_retryable=True) from err
        if req.remove_hosts:
            # Draining may be refused (the rest cannot hold the workloads): then nothing is released.
            cluster = await workflow.execute_activity(
                "mcm.remove_nodes", self._nodes_req(req, f"{wid}/remove-nodes", req.remove_hosts),
                result_type=Cluster | None, **(UNDO if req.undo else STEP))
            by_allocation: dict[str, list[str]] = {}
            for host in req.remove_hosts:
                alloc = req.allocations.get(host) or req.allocation_op_id or allocation_op(wid)
                by_allocation.setdefault(alloc, []).append(host)
            for i, (alloc, hosts) in enumerate(sorted(by_allocation.items())):
                await workflow.execute_activity("pim.release_hosts", self._release_req(
                    req, alloc, f"{wid}/release-hosts/{i}", hosts), **UNDO)
        return cluster

    @staticmethod
    def _nodes_req(req: ScaleClusterRequest, op_id: str, hosts: list[str], verb: str = "remove-nodes") -> ChangeNodes:
        return ChangeNodes(op_id=op_id, service_id=req.service_id, step=f"{verb}@{req.site}",
                           cluster_id=req.cluster_id, host_ids=hosts)

    @staticmethod
    def _release_req(req: ScaleClusterRequest, alloc: str, op_id: str, hosts: list[str]) -> ReleaseHosts:
        return ReleaseHosts(op_id=op_id, service_id=req.service_id, step=f"release-hosts@{req.site}",
                            allocation_op_id=alloc, host_ids=hosts)
