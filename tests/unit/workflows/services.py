"""A small service for the entity workflow's tests: its spec, where placement puts it, and how to
start it and follow its state."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle

from legato.activities.contracts import PlanGrowth, SiteChoice
from legato.activities.placement import PlacementActivities
from legato.activities.wdm import WDMActivities
from legato.model import (
    Component,
    ComponentPlacement,
    Link,
    PlacementDecision,
    ServiceSpec,
    ServiceState,
    ServiceStatus,
    SitePlan,
    UserArea,
)
from legato.model.operations import (
    CanaryPolicy,
    MoveRequest,
    Operation,
    OperationRecord,
    ScaleRequest,
    UpgradeRequest,
)
from legato.model.workloads import WorkloadSpec
from legato.workflows.contracts import DeployRequest, service_workflow_id
from legato.workflows.deploy_service import DeployService
from tests.unit.workflows.doubles import Doubles, eventually, unique

POLL = 0.05  # readiness polls: the doubles answer at once
SHARED = "cloud-1-k8s"  # the shared cluster db reuses


def spec(**changes) -> ServiceSpec:
    """web and db, a link from web to db, and users in paris reaching web."""
    return ServiceSpec(
        id=unique("svc"), name="shop", tenant="alpha",
        components=[Component(name="web", image="registry.test/web", version="1.0"),
                    Component(name="db", image="registry.test/db", version="1.0")],
        links=[Link(source="web", target="db")],
        user_areas=[UserArea(area="paris")],
        **changes,
    )


def decision(*hosts: str) -> PlacementDecision:
    """web on a new cluster of its own at edge-1 (on `hosts`), db on the shared cluster of cloud-1."""
    return PlacementDecision(
        feasible=True,
        components=[ComponentPlacement(component="web", site="edge-1", score=1.0, reasons=["near paris"]),
                    ComponentPlacement(component="db", site="cloud-1", cluster=SHARED, score=1.0)],
        sites=[SitePlan(site="edge-1", components=["web"], add_hosts=list(hosts or ["h1"]), action="create"),
               SitePlan(site="cloud-1", components=["db"], cluster=SHARED, action="reuse",
                        nodes={"db": {"node-1": 1}})],
    )


def deployed(doubles: Doubles, component: str) -> list[WorkloadSpec]:
    """The workloads deployed for `component` so far."""
    return [d.workload for d in doubles.args(WDMActivities.deploy_workload) if d.workload.component == component]


def placed(doubles: Doubles, *decisions: PlacementDecision) -> Doubles:
    """Placement answers with these decisions in turn (the last one from then on)."""
    queue = list(decisions or [decision()])
    return doubles.on(PlacementActivities.place, lambda _: queue.pop(0) if len(queue) > 1 else queue[0])


async def start(client: Client, task_queue: str, service: ServiceSpec, **request) -> WorkflowHandle:
    return await client.start_workflow(
        DeployService.run, DeployRequest(spec=service, ready_poll_seconds=POLL, **request),
        id=service_workflow_id(service.id), task_queue=task_queue)


async def status(handle: WorkflowHandle) -> ServiceStatus:
    return await handle.query(DeployService.get_status)


async def reaches(handle: WorkflowHandle, *states: ServiceState, timeout: float = 15) -> ServiceStatus:
    """The service's status once it is in one of `states`."""
    async def current():
        now = await status(handle)
        return now if now.state in states else None

    return await eventually(current, timeout)


async def active(client: Client, task_queue: str, service: ServiceSpec | None = None) -> WorkflowHandle:
    handle = await start(client, task_queue, service or spec())
    now = await reaches(handle, ServiceState.active, ServiceState.failed)
    assert now.state == ServiceState.active, now.error
    return handle


async def operate(handle: WorkflowHandle, op: Operation) -> OperationRecord:
    return await handle.execute_update(DeployService.operate, op)


def scale(component: str, replicas: int, rid: str = "r1", **request) -> Operation:
    return Operation(kind="scale", component=component,
                     scale=ScaleRequest(replicas=replicas, request_id=rid, **request))


def upgrade(component: str, version: str, rid: str = "u1", canary: CanaryPolicy | None = None) -> Operation:
    return Operation(kind="upgrade", component=component, upgrade=UpgradeRequest(
        version=version, request_id=rid, strategy="canary" if canary else "rolling",
        canary=canary or CanaryPolicy()))


def move(component: str, site: str, rid: str = "m1") -> Operation:
    return Operation(kind="move", component=component, move=MoveRequest(site=site, request_id=rid))


def grown_by_h7(req: PlanGrowth) -> SiteChoice:
    """plan_growth: the component's cluster is full, it grows by host h7 (a ScaleCluster child)."""
    plan = SitePlan(site=req.site, components=[req.component], cluster=req.cluster_id, add_hosts=["h7"],
                    action="scale", nodes={req.component: {"h7": req.extra_replicas}})
    return SiteChoice(plan=plan, reason="the cluster grows by one node")
