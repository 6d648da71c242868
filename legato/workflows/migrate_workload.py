"""MigrateWorkload: move one component to another site, make-before-break.

ensure capacity at the target -> deploy there -> wait ready -> switch the links and the user QoS
to the target (new ones made before old ones cleared) -> remove the source. Until the switch,
any failure cleans the target up and the source keeps serving."""

from __future__ import annotations

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import Disconnect, RecordComponent, RemoveWorkload
    from legato.activities.inventory import InventoryActivities
    from legato.activities.tcm import TCMActivities
    from legato.activities.wdm import WDMActivities
    from legato.model import ServiceSpec, ServiceState, ServiceStatus, SitePlan, Step
    from legato.workflows.entity import Compensation, ComponentState, ConnectionState
    from legato.workflows.options import ONCE, UNDO
    from legato.workflows.progress import Progress, error_text
    from legato.workflows.saga import Saga
    from legato.workflows.steps import (
        DEFAULT_PROGRESS_DEADLINE,
        Ctx,
        connect_link,
        deploy_component,
        gather_all,
        provision_site,
        replicas_on_nodes,
        set_user_qos,
    )


class MigrateRequest(BaseModel):
    spec: ServiceSpec
    component: str
    plan: SitePlan
    components: dict[str, ComponentState]
    connections: list[ConnectionState]
    ready_poll_seconds: float = 0.2
    reservation: str | None = None  # what placement reserved at the target (the parent releases it)
    progress_deadline: float = DEFAULT_PROGRESS_DEADLINE
    source_down: bool = False  # the source's cluster does not answer: its removal is tried once, then left


class MigrateResult(BaseModel):
    component: ComponentState
    connections: list[ConnectionState]  # the new ones, replacing those with the same keys
    undo: list[Compensation] = Field(default_factory=list)  # how to undo what the target holds
    steps: list[Step] = Field(default_factory=list)
    source_left: bool = False  # the source's workload is still there (its cluster did not answer)


@workflow.defn(name="MigrateWorkload")
class MigrateWorkload:
    def __init__(self) -> None:
        self.status: ServiceStatus | None = None

    @workflow.query(name="status")
    def get_status(self) -> ServiceStatus | None:
        return self.status

    @workflow.run
    async def run(self, req: MigrateRequest) -> MigrateResult:
        wid, spec, name = workflow.info().workflow_id, req.spec, req.component
        self.status = ServiceStatus(service_id=spec.id, tenant=spec.tenant, name=spec.name,
                                    state=ServiceState.provisioning)
        progress = Progress(self.status, prefix=f"move {name}: ")
        saga = Saga([], progress)
        ctx = Ctx(wid=wid, spec=spec, saga=saga, progress=progress, poll_seconds=req.ready_poll_seconds,
                  reservation=req.reservation, progress_deadline=req.progress_deadline)
        source = req.components[name]
        touching = self._touching(spec, name)
        try:
            cluster = await provision_site(ctx, req.plan, f"{wid}/{req.plan.site}")
            self.status.state = ServiceState.deploying
            target = await deploy_component(ctx, name, req.plan.site, cluster, f"{wid}/{name}",
                                            replicas_on_nodes(req.plan, name))
            self.status.state = ServiceState.connecting
            components = {**req.components, name: target}
            links, areas = touching
            new_connections = await gather_all(
                [connect_link(ctx, i, spec.links[i], components, f"{wid}/link/{i}") for i in links]
                + [set_user_qos(ctx, i, spec.user_areas[i], components, f"{wid}/qos/{i}") for i in areas]
            )
        except Exception as err:
            await saga.unwind()
            await self._name_source_again(spec, source)
            raise ApplicationError(f"move of {name} failed before the switch, {source.site} keeps serving: "
                                   f"{error_text(err)}", type="MoveFailed", non_retryable=True) from None

        # Switched: traffic goes to the target. Break the old paths, then drain the source.
        keys = {f"link@{i}" for i in links} | {f"qos@{i}" for i in areas}
        old = [c for c in req.connections if c.key in keys]
        await gather_all(self._disconnect(spec.id, wid, c) for c in old)
        remove = RemoveWorkload(op_id=f"{wid}/remove-source", service_id=spec.id, step=f"remove-source@{name}",
                                cluster_id=source.cluster, workload_id=source.workload_id, component=name)
        left = False
        if req.source_down:  # healing: the target serves already; a dead cluster is not waited for
            try:
                await progress.track(f"remove-source@{name}", f"{source.workload_id} on {source.cluster} (down)",
                                     workflow.execute_activity_method(WDMActivities.remove_workload, remove,
                                                                      **ONCE))
            except Exception:  # noqa: BLE001 - left for the cleanup when the cluster is back
                left = True
        else:
            await progress.track(f"remove-source@{name}", f"{source.workload_id} on {source.cluster}",
                                 workflow.execute_activity_method(WDMActivities.remove_workload, remove, **UNDO))
        self.status.state = ServiceState.active
        return MigrateResult(component=target, connections=new_connections, undo=list(saga.undo),
                             steps=self.status.steps, source_left=left)

    @staticmethod
    def _touching(spec: ServiceSpec, name: str) -> tuple[list[int], list[int]]:
        links = [i for i, link in enumerate(spec.links) if name in (link.source, link.target)]
        areas = [i for i, area in enumerate(spec.user_areas) if spec.entry_component(area) == name]
        return links, areas

    @staticmethod
    async def _name_source_again(spec: ServiceSpec, source: ComponentState) -> None:
        """Deploying the target wrote it into the component's inventory row and removing it dropped
        the row; the source still serves, so the inventory must name it again."""
        comp = spec.component(source.name)
        await workflow.execute_activity_method(InventoryActivities.record_component, RecordComponent(
            service_id=spec.id, cpu=comp.cpu, memory_mb=comp.memory_mb, gpu=comp.gpu, **source.model_dump()), **UNDO)

    async def _disconnect(self, service_id: str, wid: str, conn: ConnectionState) -> None:
        await workflow.execute_activity_method(TCMActivities.disconnect, Disconnect(
            op_id=f"{wid}/disconnect/{conn.id}", service_id=service_id, step=f"disconnect@{conn.description}",
            connection_id=conn.id, kind=conn.kind), **UNDO)
