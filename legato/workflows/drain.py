"""Emptying nodes make-before-break, the steps ScaleCluster's shrink and UpgradeCluster's node roll
share: the MCM cordons the nodes and starts each pod's replacement elsewhere (the old pod goes once
its replacement is ready), the workflow waits until the nodes run nothing, then records where the
pods run now so the next placement counts them right."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import ClusterRef, DrainNodes, WaitDrained
    from legato.activities.mcm import MCMActivities
    from legato.activities.wdm import WDMActivities
    from legato.model.clusters import DrainResult
    from legato.workflows.options import UNDO, waiting


async def drain(op_prefix: str, service_id: str, site: str, cluster_id: str, host_ids: list[str], *, partial: bool,
                drain_seconds: float, poll_seconds: float, opts: dict) -> tuple[DrainResult, list[str]]:
    """Drain the nodes (`partial=False`: all or nothing, CapacityExhausted if one is stuck) and wait
    up to `drain_seconds` for them to empty. Returns the drain's answer and the nodes still busy at
    the deadline (they stay cordoned). Operation ids are `<op_prefix>/drain` and `/wait-drained`."""
    drained: DrainResult = await workflow.execute_activity_method(MCMActivities.drain_nodes, DrainNodes(
        op_id=f"{op_prefix}/drain", service_id=service_id, step=f"drain@{site}", cluster_id=cluster_id,
        host_ids=host_ids, partial=partial), **opts)
    busy: list[str] = []
    if drained.draining:
        deadline = workflow.now() + timedelta(seconds=drain_seconds)
        busy = await workflow.execute_activity_method(MCMActivities.wait_drained, WaitDrained(
            op_id=f"{op_prefix}/wait-drained", service_id=service_id, step=f"wait-drained@{site}",
            cluster_id=cluster_id, host_ids=drained.draining, deadline=deadline.timestamp(),
            poll_seconds=poll_seconds), **waiting(drain_seconds))
        # Pods moved between nodes: what each node holds now, for the next placement.
        await workflow.execute_activity_method(WDMActivities.record_placements, ClusterRef(cluster_id=cluster_id),
                                               **UNDO)
    return drained, busy
