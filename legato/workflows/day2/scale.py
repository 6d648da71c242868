"""Scale a component in or out. Out: room first (the cluster grown if full), reserved node by node,
then the replicas; in: the nodes the service no longer needs are drained and given back."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import PlanGrowth, ScaleWorkload
    from legato.activities.placement import PlacementActivities
    from legato.activities.wdm import WDMActivities
    from legato.model import SitePlan
    from legato.model.clusters import ScaleClusterRequest, ScaleClusterResult
    from legato.model.operations import Operation
    from legato.model.workloads import WorkloadStatus
    from legato.workflows.day2.context import Refused, ServiceContext, on_workload, op_ctx
    from legato.workflows.entity import ComponentState
    from legato.workflows.options import STEP, UNDO
    from legato.workflows.saga import Saga
    from legato.workflows.scale_cluster import ScaleCluster
    from legato.workflows.steps import Ctx, grow_cluster, hold, release_hold, replicas_on_nodes, wait_ready


async def scale(svc: ServiceContext, op: Operation, base: str) -> str:
    name, replicas = op.component, op.scale.replicas
    state = svc.entity.components[name]
    before = state.replicas
    if replicas == before:
        return f"already {replicas} replicas"
    local = Saga([], svc.progress)
    ctx = op_ctx(svc, op, local)
    plan = None
    try:
        if replicas > before:
            plan = await make_room(svc, ctx, name, replicas - before, base, f"cannot scale {name} to {replicas}")
        step = f"scale-workload@{name}"
        try:
            await svc.progress.track(
                step,
                f"{before} → {replicas}",
                scale_workload(ctx, state, replicas, f"{base}/scale", replicas_on_nodes(plan, name), STEP),
            )
            await wait_ready(ctx, name, state.cluster, state.workload_id, f"{base}/wait")
        except Exception:
            # As it was: the replicas asked for before (those that never became ready go), then
            # the nodes grown for them.
            await svc.progress.track(
                f"scale-back@{name}", f"→ {before}", scale_workload(ctx, state, before, f"{base}/scale-back", [], UNDO)
            )
            await local.unwind(only=lambda c: not c.key.startswith("reservation@"))
            raise
    finally:
        if ctx.reservation is not None:
            await release_hold(ctx, ctx.reservation)
    svc.saga.undo.extend(local.undo)
    state.replicas = replicas
    svc.entity.spec = svc.entity.spec.with_component(name, replicas=replicas)
    if replicas < before:
        await give_back_nodes(svc, state.site, state.cluster, base)
    return f"{name}: {before} → {replicas} replicas"


async def scale_workload(ctx: Ctx, state: ComponentState, replicas: int, op_id: str, prefer_nodes: list[str],
                         options: dict) -> WorkloadStatus:
    return await workflow.execute_activity_method(WDMActivities.scale_workload, ScaleWorkload(
        **on_workload(ctx, state, "scale-workload", op_id), replicas=replicas, prefer_nodes=prefer_nodes,
        reservation=ctx.reservation), **options)


async def make_room(svc: ServiceContext, ctx: Ctx, name: str, extra: int, base: str, refusal: str) -> SitePlan:
    """Room for `extra` more replicas on the component's cluster, reserved node by node: grow
    the cluster first if it is full. The reservation's release is in `ctx.saga`."""
    state = svc.entity.components[name]
    choice = await workflow.execute_activity_method(
        PlacementActivities.plan_growth,
        PlanGrowth(
            spec=svc.entity.spec,
            component=name,
            extra_replicas=extra,
            site=state.site,
            cluster_id=state.cluster,
            hold=hold(ctx, f"{base}/room"),
        ),
        **STEP,
    )
    if choice.plan is None:
        raise Refused(f"{refusal}: {choice.reason}")
    if choice.plan.action == "scale":
        await grow_cluster(ctx, state.site, state.cluster, choice.plan.add_hosts, f"{base}/scale-cluster")
    return choice.plan


async def give_back_nodes(svc: ServiceContext, site: str, cluster: str, base: str) -> None:
    """After a scale-in: the nodes the service added to the cluster that it no longer needs are
    drained make-before-break and their hosts released (ScaleCluster); nodes whose pods fit
    nowhere else stay with the service until it needs them no more."""
    grown = [
        c for c in svc.saga.undo if c.key == f"nodes@{site}" and c.child is not None and c.child.cluster_id == cluster
    ]
    allocations = {h: c.child.allocation_op_id for c in grown for h in c.child.remove_hosts if c.child.allocation_op_id}
    if not allocations:
        return
    req = ScaleClusterRequest(
        service_id=svc.entity.spec.id,
        site=site,
        cluster_id=cluster,
        remove_hosts=sorted(allocations),
        allocations=allocations,
        stuck="keep",
        ready_poll_seconds=svc.poll_seconds,
    )
    result: ScaleClusterResult = await svc.progress.track(
        f"give-back-nodes@{site}",
        f"{cluster} -= {', '.join(sorted(allocations))} (those no longer needed)",
        workflow.execute_child_workflow(
            ScaleCluster.run, req, id=f"{base}/give-back-nodes", result_type=ScaleClusterResult
        ),
    )
    gone = set(result.removed)
    for c in grown:
        c.child.remove_hosts = [h for h in c.child.remove_hosts if h not in gone]
    svc.saga.drop(lambda c: not (c in grown and not c.child.remove_hosts))
