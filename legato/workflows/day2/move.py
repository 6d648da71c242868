"""Move a component to another site, make-before-break (MigrateWorkload), and give back the site it
leaves when nothing else of the service runs there."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import PlaceComponent, SiteChoice
    from legato.activities.placement import PlacementActivities
    from legato.model.operations import Operation
    from legato.model.service import PlacementRules
    from legato.workflows.day2.context import Refused, ServiceContext, op_ctx
    from legato.workflows.entity import ComponentState, LeftBehind
    from legato.workflows.migrate_workload import MigrateRequest, MigrateResult, MigrateWorkload
    from legato.workflows.options import STEP
    from legato.workflows.progress import CHILD_PREFIX
    from legato.workflows.steps import hold, release_hold


async def move(svc: ServiceContext, op: Operation, base: str) -> str:
    name, req = op.component, op.move
    spec = svc.entity.spec
    if req.placement is not None:
        spec = spec.with_component(name, placement=req.placement)
    elif req.site is not None and req.pin:  # the operator's choice wins over rules set before: pin it there
        spec = spec.with_component(name, placement=PlacementRules(sites=[req.site]))
    current = {n: c.site for n, c in svc.entity.components.items()}
    ctx = op_ctx(svc, op, svc.saga)
    reservation = hold(ctx, f"{base}/place")
    placing = spec
    if req.away_from:  # for this move only: the component's own rules stay as they are
        rules = spec.component(name).placement
        placing = spec.with_component(name, placement=rules.model_copy(
            update={"avoid_sites": sorted({*rules.avoid_sites, *req.away_from})}))
    try:
        choice = await workflow.execute_activity_method(
            PlacementActivities.place_component,
            PlaceComponent(spec=placing, component=name, current=current, target_site=req.site, hold=reservation),
            **STEP,
        )
        if choice.plan is None:
            raise Refused(f"{choice.reason}; {name} stays at {current[name]}")
        source = svc.entity.components[name]
        child_id = f"{base}/migrate"
        result: MigrateResult = await svc.progress.track(
            f"migrate@{name}",
            f"{CHILD_PREFIX}{child_id}",
            workflow.execute_child_workflow(
                MigrateWorkload.run,
                MigrateRequest(
                    spec=spec,
                    component=name,
                    plan=choice.plan,
                    components=svc.entity.components,
                    connections=svc.entity.connections,
                    ready_poll_seconds=svc.poll_seconds,
                    reservation=reservation.op_id,
                    progress_deadline=ctx.progress_deadline,
                    source_down=req.source_down,
                ),
                id=child_id,
            ),
        )
    finally:
        await release_hold(ctx, reservation.op_id)
    svc.status.steps.extend(result.steps)  # the child's steps, kept with the service's
    # Adopt the target's resources; forget what the switch replaced.
    replaced = {c.key: c for c in result.connections}
    gone = {f"workload@{name}@{source.cluster}"} | {
        f"{c.key}#{c.id}" for c in svc.entity.connections if c.key in replaced
    }
    svc.saga.drop(lambda c: c.key not in gone)
    svc.saga.undo.extend(result.undo)
    svc.entity.connections = [replaced.get(c.key, c) for c in svc.entity.connections]
    svc.entity.components[name] = result.component
    svc.entity.spec = spec
    update_placement(svc, name, result.component, choice, base.rsplit("/op/", 1)[-1])
    svc.refresh_endpoints()
    moved = f"{name}: {source.site} → {result.component.site} ({choice.reason})"
    if req.source_down:  # a failed cluster or site: what is left there is cleaned up once it is back
        svc.entity.left_behind.append(LeftBehind(component=name, site=source.site, cluster=source.cluster,
                                                 workload_id=source.workload_id if result.source_left else ""))
        return moved + (f"; its workload stays on {source.cluster} until it is back" if result.source_left else "")
    await free_site(svc, source.site)
    return moved


async def free_site(svc: ServiceContext, site: str) -> None:
    """Give back what the service holds at a site none of its components uses any more."""
    if any(c.site == site for c in svc.entity.components.values()):
        return
    keys = {f"cluster@{site}", f"hosts@{site}", f"nodes@{site}"}
    await svc.saga.unwind(only=lambda c: c.key in keys)


def update_placement(svc: ServiceContext, name: str, moved: ComponentState, choice: SiteChoice, rid: str) -> None:
    """The placement explains the service as it is: the component's new site with its reasons;
    where it ran before, and why, goes to its history."""
    placement = svc.status.placement
    if placement is None:
        return
    for p in placement.components:
        if p.component == name:
            p.history.append(f"{p.site} until {workflow.now():%Y-%m-%d %H:%M} UTC: " + "; ".join(p.reasons[:2]))
            p.site, p.cluster = moved.site, moved.cluster
            p.score = round(choice.score, 4) if choice.score is not None else p.score
            p.score_breakdown = {}
            p.reasons = [f"moved here by operation {rid}", *choice.reasons]
            p.rejected = choice.rejected
