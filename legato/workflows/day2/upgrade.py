"""Roll a component to a new version, make-before-break: rolling (surge replicas beside the old ones)
or canary (a few new replicas gated on their error rate first). Not ready by the progress deadline,
or failing the gate, it rolls back, the old version serving all along."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import UpgradeWorkload, WorkloadRef
    from legato.activities.wdm import WDMActivities
    from legato.model.charts import ChartSource, merge
    from legato.model.operations import Operation
    from legato.model.workloads import WorkloadStatus
    from legato.workflows.day2.context import Refused, RolledBack, ServiceContext, on_workload, op_ctx
    from legato.workflows.day2.scale import make_room
    from legato.workflows.entity import ComponentState
    from legato.workflows.options import STEP, UNDO
    from legato.workflows.progress import error_text
    from legato.workflows.saga import Saga
    from legato.workflows.steps import Ctx, deploy_component, release_hold, replicas_on_nodes, wait_ready


async def upgrade(svc: ServiceContext, op: Operation, base: str) -> str:
    name, req = op.component, op.upgrade
    state = svc.entity.components[name]
    comp = svc.entity.spec.component(name)
    if comp.chart is not None and req.image:
        raise Refused(f"{name} is a chart: its images come from the chart and its values, not from `image`")
    if comp.chart is None and req.values is not None:
        raise Refused(f"values: {name} runs an image; `values` are a chart component's")
    image = req.image or state.image
    # New values: merged over the chart's, as Helm merges; None (and values that change nothing) keep them.
    chart = None
    if req.values is not None and (merged := merge(comp.chart.values, req.values)) != comp.chart.values:
        chart = comp.chart.model_copy(update={"values": merged})
    if (image, req.version) == (state.image, state.version) and chart is None:
        return f"{name} already runs {image}:{req.version}"
    # Surge and canary replicas run beside the old ones: make room first. Nodes grown for them stay
    # with the service (given back at teardown) rather than draining the new replicas off again.
    grown = Saga([], svc.progress)
    ctx = op_ctx(svc, op, grown)
    # The canary stays until the main rollout is done, beside its surge replica; where there is
    # room for one or the other only (a full GPU site), it goes before the rollout instead.
    canary: Saga | None = None
    try:
        refusal = f"no room to roll out {name} {req.version}"
        beside = req.strategy == "canary"
        try:
            plan = await make_room(svc, ctx, name, req.canary.replicas + 1 if beside else 1, base, refusal)
        except Refused:
            if not beside:
                raise
            beside = False
            await release_hold(ctx, f"{base}/room")
            plan = await make_room(svc, ctx, name, req.canary.replicas, f"{base}/alone", refusal)
        svc.saga.undo.extend(c for c in grown.undo if not c.key.startswith("reservation@"))
        if req.strategy == "canary":
            canary = await canary_gate(svc, ctx, name, image, req, base, replicas_on_nodes(plan, name), chart)
            if not beside:
                canary, gone = None, canary
                await remove_canary(svc, gone, name, "room for the canary or the surge replica, not both")
        await roll(svc, ctx, name, image, req.version, base, chart)
    finally:
        if canary is not None:
            await remove_canary(svc, canary, name)
        if ctx.reservation is not None:
            await release_hold(ctx, ctx.reservation)
    before = state.version
    state.image, state.version = image, req.version
    if chart is None:
        svc.entity.spec = svc.entity.spec.with_component(name, image=image, version=req.version)
        return f"{name}: {before} → {req.version} ({req.strategy})"
    svc.entity.spec = svc.entity.spec.with_component(name, image=image, version=req.version, chart=chart)
    return f"{name}: {before} → {req.version}, new values ({req.strategy})"


async def roll(svc: ServiceContext, ctx: Ctx, name: str, image: str, version: str, base: str,
               chart: ChartSource | None = None) -> None:
    """Rolling, make-before-break. Replicas of the new version not ready by the progress deadline
    roll it back to the version that served, the same way. `chart`: a chart component's new values
    (None: its values stay); rolling back restores the values that served too."""
    state = svc.entity.components[name]
    step = f"rolling-upgrade@{name}"
    new_values = old_values = None
    if chart is not None:
        new_values, old_values = chart.values, svc.entity.spec.component(name).chart.values
    what = f"{state.version} → {version}" + (", new values" if chart is not None else "")
    await svc.progress.track(
        step, what, upgrade_workload(ctx, state, image, version, f"{base}/upgrade", STEP, new_values)
    )
    try:
        await wait_ready(ctx, name, state.cluster, state.workload_id, f"{base}/wait")
    except Exception as err:
        await svc.progress.track(
            f"roll-back@{name}",
            f"{version} → {state.version}" + (", values that served" if chart is not None else ""),
            upgrade_workload(ctx, state, state.image, state.version, f"{base}/roll-back", UNDO, old_values),
        )
        await wait_ready(ctx, name, state.cluster, state.workload_id, f"{base}/wait-back")
        raise ApplicationError(
            f"{name} {version} was not ready in time ({error_text(err)}); rolled back, {name} stays on {state.version}",
            type="UpgradeFailed",
        ) from None


async def upgrade_workload(ctx: Ctx, state: ComponentState, image: str, version: str, op_id: str,
                           options: dict, values: dict | None = None) -> WorkloadStatus:
    return await workflow.execute_activity_method(WDMActivities.upgrade_workload, UpgradeWorkload(
        **on_workload(ctx, state, "rolling-upgrade", op_id), image=image, version=version, values=values), **options)


async def canary_gate(
    svc: ServiceContext, op_ctx: Ctx, name: str, image: str, req, base: str, prefer_nodes: list[str],
    chart: ChartSource | None = None,
) -> Saga:
    """A few replicas of the new version beside the old ones; the gate reads their error rate.
    Passing it lets the main workload roll, the canary serving meanwhile; it goes once the
    rollout is done (the returned saga removes it). Failing it removes the canary, and the
    operation ends rolled back, the old replicas having served all along. A canary not ready by
    the progress deadline is removed and the operation fails."""
    state = svc.entity.components[name]
    canary = f"{name}-canary"
    local = Saga([], svc.progress)
    spec = svc.entity.spec.with_component(name, image=image, version=req.version, replicas=req.canary.replicas,
                                          **({"chart": chart} if chart is not None else {}))
    ctx = svc.ctx(
        spec.model_copy(
            update={
                "components": [c.model_copy(update={"name": canary}) if c.name == name else c for c in spec.components]
            }
        ),
        progress_deadline=op_ctx.progress_deadline,
    )
    ctx.saga, ctx.reservation = local, op_ctx.reservation
    step = f"canary-gate@{name}"
    try:
        deployed = await deploy_component(ctx, canary, state.site, state.cluster, f"{base}/canary", prefer_nodes)
        svc.progress.begin(
            step, f"observing {req.canary.observe_seconds:g}s, max error rate {req.canary.max_error_rate:g}"
        )
        await workflow.sleep(req.canary.observe_seconds)
        metrics = await workflow.execute_activity_method(
            WDMActivities.workload_metrics,
            WorkloadRef(cluster_id=state.cluster, workload_id=deployed.workload_id),
            **STEP,
        )
    except Exception:
        await remove_canary(svc, local, name)
        raise
    if metrics.error_rate > req.canary.max_error_rate:
        svc.progress.failed(step, f"error rate {metrics.error_rate:g} > {req.canary.max_error_rate:g}")
        await remove_canary(svc, local, name)
        raise RolledBack(
            f"canary {req.version} failed its health gate (error rate {metrics.error_rate:g} > "
            f"{req.canary.max_error_rate:g}); rolled back, {name} stays on {state.version}"
        )
    svc.progress.done(
        step,
        f"error rate {metrics.error_rate:g} ≤ {req.canary.max_error_rate:g}; "
        "the canary serves until the rollout is done",
    )
    return local


async def remove_canary(svc: ServiceContext, canary: Saga, name: str, why: str = "") -> None:
    """The canary goes, shown as what it is (one step), not as an undo of a failed deployment."""
    left = await svc.progress.track(
        f"remove-canary@{name}", f"{name}-canary{': ' + why if why else ''}", Saga(canary.undo).unwind()
    )
    if left:
        raise ApplicationError(f"canary of {name} not removed: {'; '.join(left)}", type="CanaryLeft")
