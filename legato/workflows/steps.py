"""Building blocks shared by DeployService and MigrateWorkload: each registers its compensation
(as data) before it acts, and shows itself as a step of the progress."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import (
        AllocateHosts,
        Connect,
        CreateCluster,
        DeleteCluster,
        DeployWorkload,
        Disconnect,
        Hold,
        ReleaseHosts,
        ReleaseReservation,
        RemoveWorkload,
        SetQos,
        WaitReady,
    )
    from legato.activities.mcm import MCMActivities
    from legato.activities.pim import PIMActivities
    from legato.activities.placement import PlacementActivities
    from legato.activities.tcm import TCMActivities
    from legato.activities.wdm import WDMActivities
    from legato.model import Component, Link, ServiceSpec, SitePlan, UserArea
    from legato.model.clusters import ScaleClusterRequest
    from legato.model.connectivity import LinkRequest, QosRequest
    from legato.model.names import cluster_name, link_name, qos_name, workload_name
    from legato.model.workloads import WorkloadSpec, WorkloadStatus
    from legato.workflows.entity import Compensation, ComponentState, ConnectionState
    from legato.workflows.options import PROVISION, STEP, UNDO, waiting
    from legato.workflows.progress import Progress
    from legato.workflows.saga import Saga, workflow_name
    from legato.workflows.scale_cluster import ScaleCluster, allocation_op


DEFAULT_PROGRESS_DEADLINE = 600.0  # seconds a readiness wait may take, unless the request says otherwise


@dataclass
class Ctx:
    """Who acts (the workflow id is the root of every op id) and where undo and progress go;
    the reservation the steps turn into allocations, and how long a readiness wait may take."""

    wid: str
    spec: ServiceSpec
    saga: Saga
    progress: Progress
    poll_seconds: float = 0.2
    reservation: str | None = None
    progress_deadline: float = DEFAULT_PROGRESS_DEADLINE
    # The fewest serving replicas each readiness wait saw, per component: an operation's continuity
    # where the backend keeps no history (shared with the entity workflow that reports it).
    samples: dict[str, int] | None = None

    @property
    def sid(self) -> str:
        return self.spec.id


def hold(ctx: Ctx, op_id: str) -> Hold:
    """Registers the release of what placement `op_id` will reserve, before it reserves it; the
    steps after it use the reservation (`ctx.reservation`)."""
    ctx.saga.activity(f"reservation@{op_id}", f"reserve@{op_id.rsplit('/', 1)[-1]}", PlacementActivities.release,
                      ReleaseReservation(op_id=op_id, service_id=ctx.sid, step="release-reservation"))
    ctx.reservation = op_id
    return Hold(op_id=op_id, workflow_id=workflow.info().workflow_id)


async def release_hold(ctx: Ctx, op_id: str) -> None:
    """The operation is over: what the reservation still holds goes back (its steps allocated the
    rest). Not an undo: the operation succeeded or was undone already."""
    ctx.saga.drop(lambda c: c.key != f"reservation@{op_id}")
    if ctx.reservation == op_id:
        ctx.reservation = None
    await workflow.execute_activity_method(PlacementActivities.release, ReleaseReservation(
        op_id=op_id, service_id=ctx.sid, step="release-reservation"), **UNDO)


def replicas_on_nodes(plan: SitePlan | None, component: str) -> list[str]:
    """The node reserved for each replica, in order: the hint the WDM's scheduler follows."""
    on = plan.nodes.get(component, {}) if plan is not None else {}
    return [host for host, n in sorted(on.items()) for _ in range(n)]


async def provision_site(ctx: Ctx, plan: SitePlan, base: str) -> str:
    """Make `plan.site` able to hold its components; returns the cluster to deploy on."""
    site, sid = plan.site, ctx.sid
    if plan.action == "reuse":
        ctx.progress.begin(f"reuse-cluster@{site}")
        ctx.progress.done(f"reuse-cluster@{site}", f"cluster {plan.cluster} has room")
        return plan.cluster
    if plan.action == "scale":
        await grow_cluster(ctx, site, plan.cluster, plan.add_hosts, f"{base}/scale-cluster")
        return plan.cluster

    alloc_op = f"{base}/allocate-hosts"
    step = f"allocate-hosts@{site}"
    ctx.saga.activity(f"hosts@{site}", step, PIMActivities.release_hosts, ReleaseHosts(
        op_id=f"{base}/release-hosts", service_id=sid, step=f"release-hosts@{site}", allocation_op_id=alloc_op,
        host_ids=plan.add_hosts))
    await ctx.progress.track(step, ", ".join(plan.add_hosts), workflow.execute_activity_method(
        PIMActivities.allocate_hosts,
        AllocateHosts(op_id=alloc_op, service_id=sid, step=step, site=site, host_ids=plan.add_hosts), **PROVISION))

    create_op = f"{base}/create-cluster"
    cluster_id = cluster_name(site, create_op)
    step = f"create-cluster@{site}"
    ctx.saga.activity(f"cluster@{site}", step, MCMActivities.delete_cluster, DeleteCluster(
        op_id=f"{base}/delete-cluster", service_id=sid, step=f"delete-cluster@{site}", cluster_id=cluster_id))
    await ctx.progress.track(step, cluster_id, workflow.execute_activity_method(MCMActivities.create_cluster,
        CreateCluster(op_id=create_op, service_id=sid, step=step, cluster_id=cluster_id, site=site,
                      host_ids=plan.add_hosts), **PROVISION))
    return cluster_id


async def grow_cluster(ctx: Ctx, site: str, cluster: str, hosts: list[str], child_id: str) -> None:
    """ScaleCluster child; its undo (shrink and release) is registered first."""
    grow = ScaleClusterRequest(service_id=ctx.sid, site=site, cluster_id=cluster, add_hosts=hosts)
    shrink = ScaleClusterRequest(service_id=ctx.sid, site=site, cluster_id=cluster, remove_hosts=hosts,
                                 allocation_op_id=allocation_op(child_id), undo=True)
    step = f"scale-cluster@{site}"
    ctx.saga.register(Compensation(key=f"nodes@{site}", step=step, child=shrink, child_id=f"{child_id}/undo",
                                   child_workflow=workflow_name(ScaleCluster)))
    await ctx.progress.track(step, f"{cluster} += {', '.join(hosts)}",
                             workflow.execute_child_workflow(ScaleCluster.run, grow, id=child_id))


def workload_spec(spec: ServiceSpec, comp: Component, workload_id: str, version: str | None = None,
                  replicas: int | None = None, image: str | None = None,
                  prefer_nodes: list[str] | None = None) -> WorkloadSpec:
    return WorkloadSpec(
        id=workload_id, service_id=spec.id, tenant=spec.tenant, component=comp.name, image=image or comp.image,
        version=version or comp.version, replicas=replicas or comp.replicas, cpu=comp.cpu, memory_mb=comp.memory_mb,
        gpu=comp.gpu, features=comp.features, ports=comp.ports, env=comp.env, chart=comp.chart,
        labels={**comp.labels, "legato/service": spec.id, "legato/component": comp.name, "legato/tenant": spec.tenant},
        prefer_nodes=prefer_nodes or [], secret_env=comp.secret_env,
        ingress_from=sorted({link.source for link in spec.links if link.target == comp.name}),
        published=(any(link.target == comp.name for link in spec.links)
                   or any(spec.entry_component(area) == comp.name for area in spec.user_areas)),
    )


def what_runs(comp: Component) -> str:
    """`image:version`, or the chart and its version."""
    return f"chart {comp.chart.describe(comp.version)}" if comp.chart is not None else f"{comp.image}:{comp.version}"


async def deploy_component(ctx: Ctx, name: str, site: str, cluster: str, base: str,
                           prefer_nodes: list[str] | None = None) -> ComponentState:
    """Deploy one component on `cluster` (on the nodes reserved for it, where the scheduler
    follows) and wait until every replica is ready."""
    comp, sid = ctx.spec.component(name), ctx.sid
    deploy_op = f"{base}/deploy"
    workload_id = workload_name(name, deploy_op)
    ctx.saga.activity(f"workload@{name}@{cluster}", f"deploy@{name}", WDMActivities.remove_workload, RemoveWorkload(
        op_id=f"{base}/remove", service_id=sid, step=f"remove@{name}", cluster_id=cluster, workload_id=workload_id,
        component=name))
    step = f"deploy@{name}"
    deployed = await ctx.progress.track(
        step, f"{what_runs(comp)} ×{comp.replicas} on {cluster}",
        workflow.execute_activity_method(WDMActivities.deploy_workload, DeployWorkload(
            op_id=deploy_op, service_id=sid, step=step, cluster_id=cluster, site=site, reservation=ctx.reservation,
            workload=workload_spec(ctx.spec, comp, workload_id, prefer_nodes=prefer_nodes)), **STEP))
    # Already ready (a fast backend, or a retried deploy): no second round trip to find out.
    ready = deployed if deployed.ready else await wait_ready(ctx, name, cluster, workload_id, f"{base}/wait")
    return ComponentState(name=name, site=site, cluster=cluster, workload_id=workload_id, image=comp.image,
                          version=comp.version, replicas=comp.replicas, endpoint=ready.endpoint or "")


async def wait_ready(ctx: Ctx, name: str, cluster: str, workload_id: str, op_id: str) -> WorkloadStatus:
    """Until every replica is ready, or the progress deadline passes (then ProgressDeadlineExceeded:
    the caller undoes what it started, and the service is free for the next operation)."""
    step = f"ready@{name}"
    deadline = workflow.now().timestamp() + ctx.progress_deadline
    ready = await ctx.progress.track(step, f"waiting for replicas (deadline {ctx.progress_deadline:g} s)",
                                     workflow.execute_activity_method(WDMActivities.wait_ready,
        WaitReady(op_id=op_id, service_id=ctx.sid, step=step, cluster_id=cluster, workload_id=workload_id,
                  poll_seconds=ctx.poll_seconds, deadline=deadline), **waiting(ctx.progress_deadline)))
    ctx.progress.done(step, f"{ready.ready_replicas}/{ready.replicas} ready at {ready.endpoint}")
    if ctx.samples is not None and ready.lowest_serving is not None:
        ctx.samples[name] = min(ctx.samples.get(name, ready.lowest_serving), ready.lowest_serving)
    return ready


async def connect_link(ctx: Ctx, index: int, link: Link, components: dict[str, ComponentState],
                       op_base: str) -> ConnectionState:
    desc = f"{link.source}->{link.target}"
    src, dst = components[link.source], components[link.target]
    op = f"{op_base}/connect"
    req = Connect(op_id=op, service_id=ctx.sid, step=f"link@{desc}", description=desc, reservation=ctx.reservation,
                  link=LinkRequest(
        id=link_name(op), service_id=ctx.sid, source_site=src.site, target_site=dst.site,
        source_endpoint=src.endpoint, target_endpoint=dst.endpoint, bandwidth_mbps=link.bandwidth_mbps,
        max_latency_ms=link.max_latency_ms))
    return await _connect(ctx, f"link@{index}", "link", req.link.id, req, TCMActivities.connect)


async def set_user_qos(ctx: Ctx, index: int, area: UserArea, components: dict[str, ComponentState],
                       op_base: str) -> ConnectionState:
    entry = components[ctx.spec.entry_component(area)]
    desc = f"{area.area}->{entry.name}"
    op = f"{op_base}/set"
    req = SetQos(op_id=op, service_id=ctx.sid, step=f"user-qos@{desc}", description=desc, qos=QosRequest(
        id=qos_name(op), service_id=ctx.sid, area=area.area, site=entry.site, endpoint=entry.endpoint,
        profile=area.qos_profile, bandwidth_mbps=area.bandwidth_mbps, max_latency_ms=area.max_latency_ms))
    return await _connect(ctx, f"qos@{index}", "qos", req.qos.id, req, TCMActivities.set_user_qos)


async def _connect(ctx: Ctx, key: str, kind: str, connection_id: str, req, activity) -> ConnectionState:
    ctx.saga.activity(f"{key}#{connection_id}", req.step, TCMActivities.disconnect, Disconnect(
        op_id=f"{req.op_id}/undo", service_id=ctx.sid, step=f"disconnect@{req.description}",
        connection_id=connection_id, kind=kind))
    await ctx.progress.track(req.step, req.description,
                             workflow.execute_activity_method(activity, req, **STEP))
    return ConnectionState(key=key, kind=kind, id=connection_id, description=req.description)


async def gather_all(coros) -> list:
    """Run branches in parallel and let every one settle before raising the first failure, so a
    rollback never races a branch that is still allocating."""
    import asyncio

    results = await asyncio.gather(*coros, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
