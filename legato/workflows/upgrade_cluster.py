"""UpgradeCluster: a cluster's Kubernetes version one step up (the next minor, or a later patch of
its own), the control plane first, then the nodes one by one, without any service dropping below
its requested ready replicas.

1. claim the cluster: one operation at a time per cluster (a second upgrade is refused, ClusterBusy);
2. check the step with the MCM (the versions it offers, the cluster's as it reports them);
3. the control plane: started, then waited for until the cluster's `/version` reports the version;
4. each node whose kubelet is older, in name order: drained make-before-break (ScaleCluster's drain
   steps: every pod's replacement is ready elsewhere before the pod goes; a node whose pods fit on
   no other node stops the roll before anything moves), then replaced with a node of the version,
   waited for until it reports it and takes pods again;
5. the claim is given back, whatever happened.

A failure stops the roll where it is and says so: which step, why, what runs which version. Nothing
is rolled back: Kubernetes does not support taking a control plane down a minor (etcd holds objects
in the newer version's storage), and nodes already on the new kubelet are valid under the new control
plane. A node whose drain timed out stays cordoned, with its pods serving. Asking again for the same
version resumes: the control plane and the nodes already there are skipped."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import CheckUpgrade, ClusterClaim, UpgradeControlPlane, UpgradeNodes, WaitUpgraded
    from legato.activities.inventory import InventoryActivities
    from legato.activities.mcm import MCMActivities
    from legato.model import Cluster
    from legato.model.clusters import UpgradeClusterRequest, UpgradeClusterResult, UpgradeClusterStatus
    from legato.model.versions import canonical
    from legato.workflows.drain import drain
    from legato.workflows.options import STEP, UNDO, waiting
    from legato.workflows.progress import Progress, error_text


@workflow.defn(name="UpgradeCluster")
class UpgradeCluster:
    def __init__(self) -> None:
        self.status = UpgradeClusterStatus()
        self.cluster: Cluster | None = None
        self.result = UpgradeClusterResult()

    @workflow.query
    def progress(self) -> UpgradeClusterStatus:
        return self.status

    @workflow.run
    async def run(self, req: UpgradeClusterRequest) -> UpgradeClusterResult:
        wid = workflow.info().workflow_id
        self.status = UpgradeClusterStatus(cluster_id=req.cluster_id, version=req.version)
        progress = Progress(self.status)  # type: ignore[arg-type]  # it keeps steps, like a service's status
        claim = ClusterClaim(cluster_id=req.cluster_id, workflow_id=wid, kind="upgrade", detail=f"to {req.version}")
        try:
            await progress.track("claim", f"one operation at a time on {req.cluster_id}",
                                 workflow.execute_activity_method(InventoryActivities.claim_cluster, claim, **STEP))
        except Exception as err:
            self._failed(error_text(err))
            raise ApplicationError(error_text(err), type="ClusterBusy", non_retryable=True) from err
        try:
            await self._roll(req, wid, progress)
        except Exception as err:
            step = next((s.name for s in reversed(self.status.steps) if s.state == "failed"), "the start")
            if step == "check":  # refused before anything changed: the request's fault, said as such
                self._failed(f"upgrade of {req.cluster_id} to {req.version} refused: {error_text(err)}")
                raise ApplicationError(self.status.error, type="UpgradeRefused", non_retryable=True) from err
            self._failed(self._stopped(req, step, error_text(err)))
            raise ApplicationError(self.status.error, type="UpgradeFailed", non_retryable=True) from err
        finally:
            await workflow.execute_activity_method(InventoryActivities.release_cluster, claim, **UNDO)
        self.status.state, self.status.result = "done", self.result
        return self.result

    async def _roll(self, req: UpgradeClusterRequest, wid: str, progress: Progress) -> None:
        target = canonical(req.version)
        self.cluster = await progress.track("check", f"{target} is one step from the cluster's version",
            workflow.execute_activity_method(MCMActivities.check_upgrade, CheckUpgrade(
                op_id=f"{wid}/check", service_id=req.service_id, step=f"check-upgrade@{req.site}",
                cluster_id=req.cluster_id, version=target), **STEP))  # fmt: skip
        self.result.from_version, self.result.version = self.cluster.kubernetes_version, target
        if self.cluster.kubernetes_version != target:
            await progress.track("control-plane", f"{self.cluster.kubernetes_version} -> {target}",
                                 self._control_plane(req, wid, target))
        for host in [h for h in self.cluster.hosts if self.cluster.node_versions.get(h) != target]:
            await progress.track(f"node {host}", f"drain, replace with kubelet {target}",
                                 self._node(req, wid, host, target))
        self.result.cluster = self.cluster

    async def _control_plane(self, req: UpgradeClusterRequest, wid: str, target: str) -> None:
        await workflow.execute_activity_method(MCMActivities.upgrade_control_plane, UpgradeControlPlane(
            op_id=f"{wid}/control-plane", service_id=req.service_id, step=f"upgrade-control-plane@{req.site}",
            cluster_id=req.cluster_id, version=target), **STEP)
        self.cluster = await self._wait(req, wid, "control-plane", target, [])

    async def _node(self, req: UpgradeClusterRequest, wid: str, host: str, target: str) -> None:
        """Make-before-break: every pod on the node is running and ready elsewhere before the node
        is replaced; a node whose pods fit nowhere else stops the roll with nothing moved."""
        _, busy = await drain(f"{wid}/{host}", req.service_id, req.site, req.cluster_id, [host], partial=False,
                              drain_seconds=req.drain_seconds, poll_seconds=req.ready_poll_seconds, opts=STEP)
        if busy:
            raise ApplicationError(f"node {host} still runs pods after {req.drain_seconds:g} s; it stays cordoned, "
                                   "its pods serving", type="DrainTimeout", non_retryable=True)
        await workflow.execute_activity_method(MCMActivities.upgrade_nodes, UpgradeNodes(
            op_id=f"{wid}/{host}/replace", service_id=req.service_id, step=f"upgrade-node@{req.site}",
            cluster_id=req.cluster_id, host_ids=[host], version=target), **STEP)
        self.cluster = await self._wait(req, wid, host, target, [host])
        self.result.nodes.append(host)

    async def _wait(self, req: UpgradeClusterRequest, wid: str, what: str, target: str, hosts: list[str]) -> Cluster:
        deadline = workflow.now() + timedelta(seconds=req.upgrade_seconds)
        return await workflow.execute_activity_method(MCMActivities.wait_upgraded, WaitUpgraded(
            op_id=f"{wid}/{what}/wait", service_id=req.service_id, step=f"wait-upgraded@{req.site}",
            cluster_id=req.cluster_id, version=target, host_ids=hosts, deadline=deadline.timestamp(),
            poll_seconds=req.ready_poll_seconds), **waiting(req.upgrade_seconds))

    def _stopped(self, req: UpgradeClusterRequest, step: str, cause: str) -> str:
        """Where the roll stopped and what runs which version, for the operator who asks again."""
        where = f"upgrade of {req.cluster_id} to {req.version} stopped at {step}: {cause}"
        if self.cluster is None:
            return where
        on = sorted(h for h, v in self.cluster.node_versions.items() if v == canonical(req.version))
        behind = sorted(h for h, v in self.cluster.node_versions.items() if v != canonical(req.version))
        return (f"{where}. Control plane {self.cluster.kubernetes_version}; nodes on {canonical(req.version)}: "
                f"{', '.join(on) or 'none'}; not yet: {', '.join(behind) or 'none'}. Nothing was rolled back; "
                "ask again for the same version to resume")

    def _failed(self, error: str) -> None:
        self.status.state, self.status.error = "failed", error
