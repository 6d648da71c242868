"""Put back what Reconcile found missing (workloads, links, user QoS), or what a failed node took
(the autopilot's healing), through the activities a deployment uses; and once a failed cluster is
back, clean up what a move away from it had to leave there."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import DeployWorkload, RemoveWorkload
    from legato.activities.wdm import WDMActivities
    from legato.model.operations import Finding
    from legato.workflows.day2.context import ServiceContext
    from legato.workflows.day2.move import free_site
    from legato.workflows.options import STEP, UNDO
    from legato.workflows.steps import connect_link, set_user_qos, wait_ready, workload_spec


async def repair(svc: ServiceContext, findings: list[Finding], base: str) -> str:
    """Put back what the inventory records, through the same activities a deployment uses."""
    done: list[str] = []
    for name in sorted({f.component for f in findings if f.component in svc.entity.components}):
        state = svc.entity.components[name]
        comp = svc.entity.spec.component(name)
        step = f"redeploy@{name}"
        await svc.progress.track(
            step,
            f"{state.workload_id} ×{state.replicas} on {state.cluster}",
            workflow.execute_activity_method(
                WDMActivities.deploy_workload,
                DeployWorkload(
                    op_id=f"{base}/{name}/redeploy",
                    service_id=svc.entity.spec.id,
                    step=step,
                    cluster_id=state.cluster,
                    site=state.site,
                    workload=workload_spec(
                        svc.entity.spec,
                        comp,
                        state.workload_id,
                        version=state.version,
                        replicas=state.replicas,
                        image=state.image,
                    ),
                ),
                **STEP,
            ),
        )
        await wait_ready(svc.ctx(), name, state.cluster, state.workload_id, f"{base}/{name}/wait")
        done.append(f"{name} redeployed")
    back = {f.resource for f in findings if f.kind == "left-behind"}
    for left in [x for x in svc.entity.left_behind if x.cluster in back]:
        if left.workload_id:
            await svc.progress.track(f"clean-up@{left.cluster}", f"{left.workload_id}, left when it failed",
                                     workflow.execute_activity_method(WDMActivities.remove_workload, RemoveWorkload(
                                         op_id=f"{base}/{left.component}/clean-up", service_id=svc.entity.spec.id,
                                         step=f"clean-up@{left.cluster}", cluster_id=left.cluster,
                                         workload_id=left.workload_id, component=left.component), **UNDO))
        svc.entity.left_behind.remove(left)
        await free_site(svc, left.site)
        done.append(f"{left.cluster} cleaned up")
    lost = {f.resource for f in findings if f.kind == "connection-missing"}
    for conn in [c for c in svc.entity.connections if c.id in lost]:
        kind, index = conn.key.split("@")
        ctx, i = svc.ctx(), int(index)
        if kind == "link":
            new = await connect_link(ctx, i, svc.entity.spec.links[i], svc.entity.components, f"{base}/link/{i}")
        else:
            new = await set_user_qos(ctx, i, svc.entity.spec.user_areas[i], svc.entity.components, f"{base}/qos/{i}")
        svc.saga.drop(lambda c, old=f"{conn.key}#{conn.id}": c.key != old)
        svc.entity.connections = [new if c.id == conn.id else c for c in svc.entity.connections]
        done.append(f"{conn.description} reconnected")
    return "; ".join(done) or "nothing left to repair"
