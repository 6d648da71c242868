"""A service upgrades the Kubernetes version of a cluster of its own: UpgradeCluster as a child of
its entity workflow, so the roll is one of the service's day-2 operations (one at a time, in its
operations log, inside its maintenance windows) and the service's own scalings, which run in that
same slot, cannot reach the cluster mid-roll. An operator upgrades any cluster directly
(legato/api/service_layer/cluster_upgrades.py); both are the same workflow.

A cluster made for one service is sized to it: its nodes' pods often fit on no other node, and the
roll could not empty a node make-before-break. So the service surges first: one free host of the
site is added to the cluster (ScaleCluster, its undo in the service's list like any growth), the
roll replaces every node (the surge node too: it joined on the old version), and the nodes the
service no longer needs are given back after, as after a scale-in. No free host at the site: the
roll goes without a surge, and stops at a node whose pods fit nowhere else (it says so)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import PickHosts
    from legato.activities.placement import PlacementActivities
    from legato.model.clusters import UpgradeClusterRequest, UpgradeClusterResult
    from legato.model.components import Footprint
    from legato.model.operations import Operation
    from legato.workflows.day2.context import Refused, ServiceContext, op_ctx
    from legato.workflows.day2.scale import give_back_nodes
    from legato.workflows.options import STEP
    from legato.workflows.progress import error_text
    from legato.workflows.saga import Saga
    from legato.workflows.steps import grow_cluster, hold, release_hold
    from legato.workflows.upgrade_cluster import UpgradeCluster

# UpgradeCluster's failures that changed nothing (the step refused, the cluster busy)
NOTHING_CHANGED = ("UpgradeRefused", "ClusterBusy")


def own_cluster_site(svc: ServiceContext, cluster_id: str) -> str | None:
    """The site of a cluster the service created for itself (its undo list deletes it) and runs on;
    None for any other, a shared cluster included: those are the operator's to upgrade."""
    created = {c.arg.get("cluster_id") for c in svc.entity.undo if c.key.startswith("cluster@")}
    if cluster_id not in created:
        return None
    return next((c.site for c in svc.entity.components.values() if c.cluster == cluster_id), None)


async def upgrade_cluster(svc: ServiceContext, op: Operation, base: str) -> str:
    ask = op.cluster_upgrade
    assert ask is not None and own_cluster_site(svc, ask.cluster_id) is not None  # the validator checked
    req = UpgradeClusterRequest(cluster_id=ask.cluster_id, site=own_cluster_site(svc, ask.cluster_id) or "",
                                version=ask.version, service_id=svc.entity.spec.id,
                                ready_poll_seconds=min(svc.poll_seconds, 1.0))  # fmt: skip
    if ask.progress_deadline_seconds is not None:
        req.upgrade_seconds = req.drain_seconds = ask.progress_deadline_seconds
    surged = await surge(svc, op, req.site, req.cluster_id, base)
    try:
        result: UpgradeClusterResult = await workflow.execute_child_workflow(
            UpgradeCluster.run, req, id=f"{base}/upgrade-cluster")
    except ChildWorkflowError as err:
        cause = err.cause
        if getattr(cause, "type", None) in NOTHING_CHANGED:
            raise Refused(getattr(cause, "message", "") or error_text(cause)) from err
        raise
    finally:
        if surged:
            await give_back_nodes(svc, req.site, req.cluster_id, base)
    nodes = ", ".join(result.nodes) or "none (already there)"
    return f"cluster {ask.cluster_id} {result.from_version} -> {result.version}; nodes replaced: {nodes}"


async def surge(svc: ServiceContext, op: Operation, site: str, cluster_id: str, base: str) -> list[str]:
    """One free host of the site added to the cluster before the roll, one that can hold any replica
    the cluster runs (its features, GPUs, the largest replica's CPU and memory), reserved when picked
    so no placement takes it meanwhile; [] when the site has none free."""
    on_it = [svc.entity.spec.component(c.name) for c in svc.entity.components.values() if c.cluster == cluster_id]
    fits = Footprint(cpu=max((c.cpu for c in on_it), default=0), memory_mb=max((c.memory_mb for c in on_it), default=0),
                     gpu=max((c.gpu for c in on_it), default=0))  # fmt: skip
    features = sorted({f for c in on_it for f in c.features})
    local = Saga([], svc.progress)
    ctx = op_ctx(svc, op, local)
    picking = f"{base}/surge"
    try:
        hosts = await svc.progress.track(f"surge@{site}", "one free host, so every node can be emptied in turn",
            workflow.execute_activity_method(PlacementActivities.pick_hosts, PickHosts(
                op_id=picking, service_id=svc.entity.spec.id, step=f"pick-hosts@{site}", site=site, count=1,
                hold=hold(ctx, picking), fits=fits, features=features), **STEP))  # fmt: skip
    except Exception as err:  # noqa: BLE001 - no free host: the roll goes without
        workflow.logger.info("no surge host at %s (%s): the roll goes in place", site, error_text(err))
        await release_hold(ctx, picking)
        return []
    try:
        await grow_cluster(ctx, site, cluster_id, hosts, f"{base}/surge-cluster")
    except Exception:
        await local.unwind(only=lambda c: not c.key.startswith("reservation@"))
        raise
    finally:
        await release_hold(ctx, picking)
    svc.saga.undo.extend(local.undo)
    return hosts
