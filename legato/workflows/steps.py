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
        ReleaseHosts,
        RemoveWorkload,
        SetQos,
        WaitReady,
    )
    from legato.adapters.names import cluster_name, link_name, qos_name, workload_name
    from legato.adapters.tcm import Connection, LinkRequest, QosRequest
    from legato.adapters.wdm import WorkloadSpec, WorkloadStatus
    from legato.model import Component, Link, ServiceSpec, SitePlan, UserArea
    from legato.workflows.contracts import ScaleClusterRequest
    from legato.workflows.entity import Compensation, ComponentState, ConnectionState
    from legato.workflows.options import STEP, WAIT
    from legato.workflows.progress import Progress
    from legato.workflows.saga import Saga
    from legato.workflows.scale_cluster import allocation_op


@dataclass
class Ctx:
    """Who acts (the workflow id is the root of every op id) and where undo and progress go."""

    wid: str
    spec: ServiceSpec
    saga: Saga
    progress: Progress
    poll_seconds: float = 0.2

    @property
    def sid(self) -> str:
        return self.spec.id


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
    ctx.saga.activity(f"hosts@{site}", step, "pim.release_hosts", ReleaseHosts(
        op_id=f"{base}/release-hosts", service_id=sid, step=f"release-hosts@{site}", allocation_op_id=alloc_op,
        host_ids=plan.add_hosts))
    await ctx.progress.track(step, ", ".join(plan.add_hosts), workflow.execute_activity(
        "pim.allocate_hosts",
        AllocateHosts(op_id=alloc_op, service_id=sid, step=step, site=site, host_ids=plan.add_hosts), **STEP))

    create_op = f"{base}/create-cluster"
    cluster_id = cluster_name(site, create_op)
    step = f"create-cluster@{site}"
    ctx.saga.activity(f"cluster@{site}", step, "mcm.delete_cluster", DeleteCluster(
        op_id=f"{base}/delete-cluster", service_id=sid, step=f"delete-cluster@{site}", cluster_id=cluster_id))
    await ctx.progress.track(step, cluster_id, workflow.execute_activity(
        "mcm.create_cluster",
        CreateCluster(op_id=create_op, service_id=sid, step=step, cluster_id=cluster_id, site=site,
                      host_ids=plan.add_hosts), **STEP))
    return cluster_id


async def grow_cluster(ctx: Ctx, site: str, cluster: str, hosts: list[str], child_id: str) -> None:
    """ScaleCluster child; its undo (shrink and release) is registered first."""
    grow = ScaleClusterRequest(service_id=ctx.sid, site=site, cluster_id=cluster, add_hosts=hosts)
    shrink = ScaleClusterRequest(service_id=ctx.sid, site=site, cluster_id=cluster, remove_hosts=hosts,
                                 allocation_op_id=allocation_op(child_id), undo=True)
    step = f"scale-cluster@{site}"
    ctx.saga.register(Compensation(key=f"nodes@{site}", step=step, child=shrink, child_id=f"{child_id}/undo"))
    await ctx.progress.track(step, f"{cluster} += {', '.join(hosts)}",
                             workflow.execute_child_workflow("ScaleCluster", grow, id=child_id))


def workload_spec(spec: ServiceSpec, comp: Component, workload_id: str, version: str | None = None,
                  replicas: int | None = None, image: str | None = None) -> WorkloadSpec:
    return WorkloadSpec(
        id=workload_id, service_id=spec.id, tenant=spec.tenant, component=comp.name, image=image or comp.image,
        version=version or comp.version, replicas=replicas or comp.replicas, cpu=comp.cpu, memory_mb=comp.memory_mb,
        gpu=comp.gpu, features=comp.features, ports=comp.ports, env=comp.env,
        labels={**comp.labels, "legato/service": spec.id, "legato/component": comp.name, "legato/tenant": spec.tenant},
    )


async def deploy_component(ctx: Ctx, name: str, site: str, cluster: str, base: str) -> ComponentState:
    """Deploy one component on `cluster` and wait until every replica is ready."""
    comp, sid = ctx.spec.component(name), ctx.sid
    deploy_op = f"{base}/deploy"
    workload_id = workload_name(name, deploy_op)
    ctx.saga.activity(f"workload@{name}@{cluster}", f"deploy@{name}", "wdm.remove_workload", RemoveWorkload(
        op_id=f"{base}/remove", service_id=sid, step=f"remove@{name}", cluster_id=cluster, workload_id=workload_id,
        component=name))
    step = f"deploy@{name}"
    deployed = await ctx.progress.track(
        step, f"{comp.image}:{comp.version} ×{comp.replicas} on {cluster}",
        workflow.execute_activity("wdm.deploy_workload", DeployWorkload(
            op_id=deploy_op, service_id=sid, step=step, cluster_id=cluster, site=site,
            workload=workload_spec(ctx.spec, comp, workload_id)), result_type=WorkloadStatus, **STEP))
    # Already ready (a fast backend, or a retried deploy): no second round trip to find out.
    ready = deployed if deployed.ready else await wait_ready(ctx, name, cluster, workload_id, f"{base}/wait")
    return ComponentState(name=name, site=site, cluster=cluster, workload_id=workload_id, image=comp.image,
                          version=comp.version, replicas=comp.replicas, endpoint=ready.endpoint or "")


async def wait_ready(ctx: Ctx, name: str, cluster: str, workload_id: str, op_id: str) -> WorkloadStatus:
    step = f"ready@{name}"
    ready = await ctx.progress.track(step, "waiting for replicas", workflow.execute_activity(
        "wdm.wait_ready",
        WaitReady(op_id=op_id, service_id=ctx.sid, step=step, cluster_id=cluster, workload_id=workload_id,
                  poll_seconds=ctx.poll_seconds),
        result_type=WorkloadStatus, **WAIT))
    ctx.progress.done(step, f"{ready.ready_replicas}/{ready.replicas} ready at {ready.endpoint}")
    return ready


async def connect_link(ctx: Ctx, index: int, link: Link, components: dict[str, ComponentState],
                       op_base: str) -> ConnectionState:
    desc = f"{link.source}->{link.target}"
    src, dst = components[link.source], components[link.target]
    op = f"{op_base}/connect"
    req = Connect(op_id=op, service_id=ctx.sid, step=f"link@{desc}", description=desc, link=LinkRequest(
        id=link_name(op), service_id=ctx.sid, source_site=src.site, target_site=dst.site,
        source_endpoint=src.endpoint, target_endpoint=dst.endpoint, bandwidth_mbps=link.bandwidth_mbps,
        max_latency_ms=link.max_latency_ms))
    return await _connect(ctx, f"link@{index}", "link", req.link.id, req, "tcm.connect")


async def set_user_qos(ctx: Ctx, index: int, area: UserArea, components: dict[str, ComponentState],
                       op_base: str) -> ConnectionState:
    entry = components[ctx.spec.entry_component(area)]
    desc = f"{area.area}->{entry.name}"
    op = f"{op_base}/set"
    req = SetQos(op_id=op, service_id=ctx.sid, step=f"user-qos@{desc}", description=desc, qos=QosRequest(
        id=qos_name(op), service_id=ctx.sid, area=area.area, site=entry.site, endpoint=entry.endpoint,
        profile=area.qos_profile, bandwidth_mbps=area.bandwidth_mbps, max_latency_ms=area.max_latency_ms))
    return await _connect(ctx, f"qos@{index}", "qos", req.qos.id, req, "tcm.set_user_qos")


async def _connect(ctx: Ctx, key: str, kind: str, connection_id: str, req, activity: str) -> ConnectionState:
    ctx.saga.activity(f"{key}#{connection_id}", req.step, "tcm.disconnect", Disconnect(
        op_id=f"{req.op_id}/undo", service_id=ctx.sid, step=f"disconnect@{req.description}",
        connection_id=connection_id, kind=kind))
    await ctx.progress.track(req.step, req.description,
                             workflow.execute_activity(activity, req, result_type=Connection, **STEP))
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
