"""DeployService: the service's entity workflow (`service-<id>`).

validate -> place -> provision each site (reuse / ScaleCluster / allocate + create) -> deploy the
components (sites in parallel) and wait until ready -> connect links and user QoS -> active.
It then stays alive as the service's entity until terminated; termination and rollback are the
same mechanism: the saga's compensations, run in reverse.
"""

from __future__ import annotations

import asyncio
from functools import partial

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import (
        AllocateHosts,
        Connect,
        CreateCluster,
        DeleteCluster,
        DeployWorkload,
        Disconnect,
        PlaceRequest,
        ReleaseHosts,
        RemoveWorkload,
        ServiceUpdate,
        SetQos,
        WaitReady,
    )
    from legato.adapters.names import cluster_name, link_name, qos_name, workload_name
    from legato.adapters.tcm import Connection, LinkRequest, QosRequest
    from legato.adapters.wdm import WorkloadSpec, WorkloadStatus
    from legato.model import PlacementDecision, ServiceSpec, ServiceState, ServiceStatus, SitePlan
    from legato.model.status import Endpoint
    from legato.workflows.contracts import STATE, DeployRequest, ScaleClusterRequest
    from legato.workflows.options import STEP, UNDO, WAIT
    from legato.workflows.progress import Progress, error_text
    from legato.workflows.saga import Saga
    from legato.workflows.scale_cluster import ScaleCluster, allocation_op


@workflow.defn(name="DeployService")
class DeployService:
    def __init__(self) -> None:
        self.status: ServiceStatus | None = None
        self.progress: Progress | None = None
        self.saga: Saga | None = None
        self.terminate_requested = False
        self.req: DeployRequest | None = None

    # --- queries and updates ---------------------------------------------------------------

    @workflow.query(name="status")
    def get_status(self) -> ServiceStatus | None:
        return self.status

    @workflow.update(name="terminate")
    async def terminate(self) -> ServiceStatus:
        self.terminate_requested = True
        await workflow.wait_condition(
            lambda: self.status is not None and self.status.state in (ServiceState.terminated, ServiceState.failed)
        )
        return self.status

    @terminate.validator
    def _validate_terminate(self) -> None:
        if self.status is not None and self.status.state in (ServiceState.terminating, ServiceState.terminated):
            raise ApplicationError(f"service is already {self.status.state}", type="InvalidState")

    # --- run ---------------------------------------------------------------------------------

    @workflow.run
    async def run(self, req: DeployRequest) -> ServiceStatus:
        spec = req.spec
        self.req = req
        self.status = ServiceStatus(service_id=spec.id, tenant=spec.tenant, name=spec.name, state=ServiceState.accepted)
        self.progress = Progress(self.status)
        self.saga = Saga(self.progress)
        self.wid = workflow.info().workflow_id
        await self._activity("inventory.record_service", spec)

        if spec.not_before is not None and spec.not_before > workflow.now():
            await self._set_state(ServiceState.scheduled)
            delay = (spec.not_before - workflow.now()).total_seconds()
            try:
                await workflow.wait_condition(lambda: self.terminate_requested, timeout=delay)
            except TimeoutError:
                pass  # not_before reached
            if self.terminate_requested:
                await self._set_state(ServiceState.terminated)
                return self.status

        try:
            await self._deploy(spec)
        except Exception as err:  # any failure of a step: roll back, then fail visibly
            cause = error_text(err)
            workflow.logger.warning("deployment of %s failed: %s; rolling back", spec.id, cause)
            self.status.error = cause
            await self._set_state(ServiceState.rolling_back)
            leftovers = await self.saga.unwind()
            if leftovers:
                self.status.error += " | rollback incomplete: " + "; ".join(leftovers)
            await self._set_state(ServiceState.failed)
            raise ApplicationError(f"service {spec.id} failed: {self.status.error}", type="ServiceFailed",
                                   non_retryable=True) from None

        await workflow.wait_condition(lambda: self.terminate_requested)
        await self._set_state(ServiceState.terminating)
        leftovers = await self.saga.unwind()
        self.status.error = ("teardown incomplete: " + "; ".join(leftovers)) if leftovers else None
        await self._set_state(ServiceState.terminated)
        return self.status

    async def _deploy(self, spec: ServiceSpec) -> None:
        await self._set_state(ServiceState.placing)
        self.progress.begin("place")
        decision = await self._activity("placement.place", PlaceRequest(spec=spec), result_type=PlacementDecision)
        if not decision.feasible:
            self.progress.failed("place", decision.infeasible_reason or "infeasible")
            raise ApplicationError(f"placement infeasible: {decision.infeasible_reason}", type="PlacementInfeasible")
        self.status.placement = decision
        self.progress.done("place", ", ".join(f"{p.component}→{p.site}" for p in decision.components))

        await self._set_state(ServiceState.provisioning)
        clusters = await self._all(self._provision_site(plan) for plan in decision.sites)
        cluster_of_site = {plan.site: cluster for plan, cluster in zip(decision.sites, clusters, strict=True)}

        await self._set_state(ServiceState.deploying)
        statuses = await self._all(
            self._deploy_component(spec, comp.name, p.site, cluster_of_site[p.site])
            for p in decision.components
            for comp in [spec.component(p.component)]
        )
        self.status.endpoints = [
            Endpoint(component=p.component, site=p.site, cluster=cluster_of_site[p.site], address=s.endpoint or "")
            for p, s in zip(decision.components, statuses, strict=True)
        ]

        await self._set_state(ServiceState.connecting)
        await self._connect(spec, decision)
        await self._set_state(ServiceState.active)

    # --- provisioning -------------------------------------------------------------------------

    async def _provision_site(self, plan: SitePlan) -> str:
        site, base = plan.site, f"{self.wid}/{plan.site}"
        if plan.action == "reuse":
            self.progress.begin(f"reuse-cluster@{site}")
            self.progress.done(f"reuse-cluster@{site}", f"cluster {plan.cluster} has room")
            return plan.cluster
        if plan.action == "scale":
            return await self._scale_cluster(plan)

        sid = self.status.service_id
        alloc_op = f"{base}/allocate-hosts"
        step = f"allocate-hosts@{site}"
        self.saga.register(step, partial(
            self._undo, "pim.release_hosts",
            ReleaseHosts(op_id=f"{base}/release-hosts", service_id=sid, step=f"release-hosts@{site}",
                         allocation_op_id=alloc_op, host_ids=plan.add_hosts)))
        await self._step(step, ", ".join(plan.add_hosts), "pim.allocate_hosts",
                         AllocateHosts(op_id=alloc_op, service_id=sid, step=step, site=site, host_ids=plan.add_hosts))

        create_op = f"{base}/create-cluster"
        cluster_id = cluster_name(site, create_op)
        step = f"create-cluster@{site}"
        self.saga.register(step, partial(
            self._undo, "mcm.delete_cluster",
            DeleteCluster(op_id=f"{base}/delete-cluster", service_id=sid, step=f"delete-cluster@{site}",
                          cluster_id=cluster_id)))
        await self._step(step, cluster_id, "mcm.create_cluster",
                         CreateCluster(op_id=create_op, service_id=sid, step=step, cluster_id=cluster_id, site=site,
                                       host_ids=plan.add_hosts))
        return cluster_id

    async def _scale_cluster(self, plan: SitePlan) -> str:
        site, sid = plan.site, self.status.service_id
        child_id = f"{self.wid}/scale-cluster/{site}"
        grow = ScaleClusterRequest(service_id=sid, site=site, cluster_id=plan.cluster, add_hosts=plan.add_hosts)
        shrink = ScaleClusterRequest(service_id=sid, site=site, cluster_id=plan.cluster,
                                     remove_hosts=plan.add_hosts, allocation_op_id=allocation_op(child_id))
        step = f"scale-cluster@{site}"
        self.saga.register(step, partial(self._child, shrink, f"{self.wid}/shrink-cluster/{site}"))
        await self._tracked(step, f"{plan.cluster} += {', '.join(plan.add_hosts)}", self._child(grow, child_id))
        return plan.cluster

    async def _child(self, req: ScaleClusterRequest, child_id: str) -> None:
        await workflow.execute_child_workflow(ScaleCluster.run, req, id=child_id)

    # --- workloads ------------------------------------------------------------------------------

    async def _deploy_component(self, spec: ServiceSpec, name: str, site: str, cluster: str) -> WorkloadStatus:
        comp, sid, base = spec.component(name), spec.id, f"{self.wid}/{name}"
        deploy_op = f"{base}/deploy"
        workload_id = workload_name(name, deploy_op)
        self.saga.register(f"deploy@{name}", partial(
            self._undo, "wdm.remove_workload",
            RemoveWorkload(op_id=f"{base}/remove", service_id=sid, step=f"remove@{name}", cluster_id=cluster,
                           workload_id=workload_id, component=name)))
        workload = WorkloadSpec(
            id=workload_id, service_id=sid, tenant=spec.tenant, component=name, image=comp.image,
            version=comp.version, replicas=comp.replicas, cpu=comp.cpu, memory_mb=comp.memory_mb, gpu=comp.gpu,
            features=comp.features, ports=comp.ports, env=comp.env,
            labels={**comp.labels, "legato/service": sid, "legato/component": name, "legato/tenant": spec.tenant},
        )
        step = f"deploy@{name}"
        await self._step(step, f"{comp.image}:{comp.version} ×{comp.replicas} on {cluster}", "wdm.deploy_workload",
                         DeployWorkload(op_id=deploy_op, service_id=sid, step=step, cluster_id=cluster, site=site,
                                        workload=workload), result_type=WorkloadStatus)
        step = f"ready@{name}"
        ready = await self._tracked(step, "waiting for replicas", workflow.execute_activity(
            "wdm.wait_ready",
            WaitReady(op_id=f"{base}/wait", service_id=sid, step=step, cluster_id=cluster, workload_id=workload_id,
                      poll_seconds=self.req.ready_poll_seconds),
            result_type=WorkloadStatus, **WAIT,
        ))
        self.progress.done(step, f"{ready.ready_replicas}/{ready.replicas} ready at {ready.endpoint}")
        return ready

    # --- connectivity ---------------------------------------------------------------------------

    async def _connect(self, spec: ServiceSpec, decision: PlacementDecision) -> None:
        sid = spec.id
        address = {e.component: e.address for e in self.status.endpoints}
        calls = []
        for i, link in enumerate(spec.links):
            op = f"{self.wid}/link/{i}/connect"
            desc = f"{link.source}->{link.target}"
            req = Connect(
                op_id=op, service_id=sid, step=f"link@{desc}", description=desc,
                link=LinkRequest(id=link_name(op), service_id=sid, source_site=decision.site_of(link.source),
                                 target_site=decision.site_of(link.target), source_endpoint=address[link.source],
                                 target_endpoint=address[link.target], bandwidth_mbps=link.bandwidth_mbps,
                                 max_latency_ms=link.max_latency_ms),
            )
            calls.append((req, "tcm.connect", "link", req.link.id))
        for i, area in enumerate(spec.user_areas):
            op = f"{self.wid}/qos/{i}/set"
            entry = spec.entry_component(area)
            desc = f"{area.area}->{entry}"
            req = SetQos(
                op_id=op, service_id=sid, step=f"user-qos@{desc}", description=desc,
                qos=QosRequest(id=qos_name(op), service_id=sid, area=area.area, site=decision.site_of(entry),
                               endpoint=address[entry], profile=area.qos_profile, bandwidth_mbps=area.bandwidth_mbps,
                               max_latency_ms=area.max_latency_ms),
            )
            calls.append((req, "tcm.set_user_qos", "qos", req.qos.id))

        async def one(req, activity_name: str, kind: str, connection_id: str) -> None:
            self.saga.register(req.step, partial(
                self._undo, "tcm.disconnect",
                Disconnect(op_id=f"{req.op_id}/undo", service_id=sid, step=f"disconnect@{req.description}",
                           connection_id=connection_id, kind=kind)))
            await self._step(req.step, req.description, activity_name, req, result_type=Connection)

        await self._all(one(*call) for call in calls)

    # --- plumbing ------------------------------------------------------------------------------

    async def _all(self, coros) -> list:
        """Run branches in parallel and let every one settle before raising the first failure,
        so the rollback never races a branch that is still allocating."""
        results = await asyncio.gather(*coros, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def _step(self, step: str, detail: str, activity_name: str, arg, result_type=None):
        return await self._tracked(
            step, detail, workflow.execute_activity(activity_name, arg, result_type=result_type, **STEP)
        )

    async def _tracked(self, step: str, detail: str, work):
        """Await `work` as one visible step of the progress: running, then done or failed."""
        self.progress.begin(step, detail)
        try:
            result = await work
        except Exception as err:
            self.progress.failed(step, error_text(err))
            raise
        self.progress.done(step)
        return result

    async def _activity(self, name: str, arg, result_type=None):
        return await workflow.execute_activity(name, arg, result_type=result_type, **STEP)

    async def _undo(self, name: str, arg) -> None:
        await workflow.execute_activity(name, arg, **UNDO)

    async def _set_state(self, state: ServiceState) -> None:
        self.progress.state(state)
        if self.req.index_search_attributes:
            workflow.upsert_search_attributes([STATE.value_set(str(state))])
        update = ServiceUpdate(service_id=self.status.service_id, state=str(state), error=self.status.error)
        if state in (ServiceState.active, ServiceState.failed, ServiceState.terminated):
            update.placement = self.status.placement.model_dump(mode="json") if self.status.placement else None
            update.endpoints = [e.model_dump() for e in self.status.endpoints]
        await workflow.execute_activity("inventory.update_service", update, **UNDO)
