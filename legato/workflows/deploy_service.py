"""DeployService: the service's entity workflow (`service-<id>`).

validate -> place -> provision each site (reuse / ScaleCluster / allocate + create) -> deploy the
components (sites in parallel) and wait until ready -> connect links and user QoS -> active.
It then stays alive as the service's entity, serving day-2 updates one at a time, and continues
as new (carrying its state) before its history grows large. Rollback and termination are the same
mechanism: the saga's compensations, run in reverse.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import Exclusions, PlaceRequest, ServiceUpdate
    from legato.activities.inventory import InventoryActivities
    from legato.activities.placement import PlacementActivities
    from legato.activities.schedules import ScheduleActivities, ServiceSchedules
    from legato.model import PlacementDecision, ServiceSpec, ServiceState, ServiceStatus
    from legato.model.federation import PARTNER_TENANT_PREFIX
    from legato.model.operations import OperationRecord
    from legato.model.service import ITEM_LABEL, ORDER_LABEL
    from legato.model.status import Endpoint
    from legato.workflows.contracts import OPERATION, SITES, STATE, DeployRequest
    from legato.workflows.entity import ServiceEntity
    from legato.workflows.federate_request import federate
    from legato.workflows.operations import Operations
    from legato.workflows.options import STEP, UNDO
    from legato.workflows.progress import Progress, error_text, refused_resources
    from legato.workflows.saga import Saga
    from legato.workflows.steps import (
        Ctx,
        connect_link,
        deploy_component,
        gather_all,
        hold,
        provision_site,
        release_hold,
        replicas_on_nodes,
        set_user_qos,
    )

MAX_STEPS_KEPT = 300  # progress entries carried across continue-as-new
# Placements a deployment tries when a backend still refuses for capacity (something outside Legato
# took a host, or fills a cluster): the first, then this many minus one without what refused.
MAX_PLACEMENTS = 3
# Since this patch, a service removes its schedules (legato/service_schedules.py) when it is
# terminated or fails: histories from before it issue no such activity.
SCHEDULES_GO_WITH_THE_SERVICE = "schedules-go-with-the-service"


@workflow.defn(name="DeployService")
class DeployService(Operations):
    @workflow.init
    def __init__(self, req: DeployRequest) -> None:
        """State exists before any handler runs: an update may reach a new run (after continue-as-new)
        before `run` starts."""
        self.req, self.wid = req, workflow.info().workflow_id
        spec = req.spec
        self.entity = req.entity or ServiceEntity(spec=spec, status=ServiceStatus(
            service_id=spec.id, tenant=spec.tenant, name=spec.name, state=ServiceState.accepted))
        self.progress = Progress(self.entity.status)
        self.saga = Saga(self.entity.undo, self.progress)
        self.current_op = None
        self.samples: dict[str, int] = {}  # what the running operation's readiness waits saw

    # --- queries and updates ---------------------------------------------------------------

    @workflow.query(name="status")
    def get_status(self) -> ServiceStatus | None:
        return self.entity.status if self.entity else None

    @workflow.update(name="terminate")
    async def terminate(self) -> ServiceStatus:
        self.entity.terminate_requested = True
        await workflow.wait_condition(lambda: self.status.state in (ServiceState.terminated, ServiceState.failed))
        return self.status

    @terminate.validator
    def _validate_terminate(self) -> None:
        if self.status.state in (ServiceState.terminating, ServiceState.terminated, ServiceState.failed):
            raise ApplicationError(f"service is already {self.status.state}", type="InvalidState")

    # --- run ---------------------------------------------------------------------------------

    @property
    def status(self) -> ServiceStatus:
        return self.entity.status

    @property
    def poll_seconds(self) -> float:
        return self.req.ready_poll_seconds

    def ctx(self, spec: ServiceSpec | None = None, progress_deadline: float | None = None) -> Ctx:
        spec = spec or self.entity.spec
        return Ctx(wid=self.wid, spec=spec, saga=self.saga, progress=self.progress,
                   poll_seconds=self.poll_seconds,
                   progress_deadline=progress_deadline or spec.progress_deadline_seconds, samples=self.samples)

    @workflow.run
    async def run(self, req: DeployRequest) -> ServiceStatus:
        spec = req.spec
        if not self.entity.deployed:
            await self._activity(InventoryActivities.record_service, spec)
            if not await self._wait_not_before(spec):
                await self._set_state(ServiceState.terminated)
                return self.status
            await self._deploy_or_fail(spec)

        while True:
            armed = self.next_window()  # the opening this wait's timer is set for, if an operation waits
            try:
                await workflow.wait_condition(
                    lambda: self.entity.terminate_requested or workflow.info().is_continue_as_new_suggested()
                    or (bool(self.entity.pending_repairs) and self.current_op is None)
                    or (self.waiting_due() and self.current_op is None)
                    or self.next_window() != armed,  # noqa: B023 - an operation began to wait: set the timer for it
                    timeout=self.until_window(),  # a timer only while an operation waits for its window
                )
            except TimeoutError:
                pass  # a maintenance window opens: the checks below see the operation due
            # An operation in flight finishes first; terminate never cuts one in half.
            await workflow.wait_condition(lambda: self.current_op is None)
            if self.entity.terminate_requested:
                break
            if self.entity.pending_repairs:
                await self.run_repairs()
                continue
            if self.waiting_due():
                await self.run_waiting()
                continue
            if not workflow.info().is_continue_as_new_suggested():
                continue  # woken early for a window
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self.current_op is None and not self.entity.terminate_requested:
                self._continue_as_new()

        await self._set_state(ServiceState.terminating)
        await self._remove_schedules()
        await self.cancel_waiting()
        record = self._lifecycle_record("terminate", self.entity.spec)
        await self._record_operation(record)
        leftovers = await self.saga.unwind()
        self.status.error = ("teardown incomplete: " + "; ".join(leftovers)) if leftovers else None
        await self._log_end(record, "failed" if leftovers else "succeeded", self.status.error or "everything removed")
        await self._set_state(ServiceState.terminated)
        return self.status

    async def _remove_schedules(self) -> None:
        """Schedules go with the service: none runs against it once it is going (or failed)."""
        if workflow.patched(SCHEDULES_GO_WITH_THE_SERVICE):
            await workflow.execute_activity_method(ScheduleActivities.remove_all, ServiceSchedules(
                service_id=self.entity.spec.id, tenant=self.entity.spec.tenant or ""), **UNDO)

    def _continue_as_new(self) -> None:
        self.status.steps = self.status.steps[-MAX_STEPS_KEPT:]
        workflow.continue_as_new(self.req.model_copy(update={"entity": self.entity, "spec": self.entity.spec}))

    async def _wait_not_before(self, spec: ServiceSpec) -> bool:
        """False if terminated while waiting for `not_before`."""
        if spec.not_before is None or spec.not_before <= workflow.now():
            return True
        await self._set_state(ServiceState.scheduled)
        try:
            await workflow.wait_condition(lambda: self.entity.terminate_requested,
                                          timeout=(spec.not_before - workflow.now()).total_seconds())
        except TimeoutError:
            pass  # not_before reached
        return not self.entity.terminate_requested

    def _lifecycle_record(self, kind: str, spec: ServiceSpec) -> OperationRecord:
        """The deployment and the teardown in the operations log, beside the day-2 operations: who
        asked (the tenant, or the TMF order and item that added it), when, how it ended."""
        order = spec.labels.get(ORDER_LABEL)
        by = f"serviceOrder {order} item {spec.labels.get(ITEM_LABEL, '')}".strip() if order else spec.tenant or ""
        return OperationRecord(request_id=f"{kind}-{spec.id}", kind=kind, requested_by=by, started_at=workflow.now())

    async def _log_end(self, record: OperationRecord, state: str, detail: str) -> None:
        record.state, record.detail, record.ended_at = state, detail, workflow.now()
        await self._record_operation(record)

    async def _deploy_or_fail(self, spec: ServiceSpec) -> None:
        record = self._lifecycle_record("deploy", spec)
        await self._record_operation(record)
        try:
            await self._deploy(spec)
            await self._log_end(record, "succeeded", ", ".join(
                f"{p.component}→{p.site}" for p in self.status.placement.components) if self.status.placement else "")
        except Exception as err:  # any failure of a step: roll back, then fail visibly
            cause = error_text(err)
            workflow.logger.warning("deployment of %s failed: %s; rolling back", spec.id, cause)
            self.status.error = cause
            await self._set_state(ServiceState.rolling_back)
            leftovers = await self.saga.unwind()
            if leftovers:
                self.status.error += " | rollback incomplete: " + "; ".join(leftovers)
            await self._remove_schedules()
            await self._set_state(ServiceState.failed)
            await self._log_end(record, "failed", self.status.error)
            raise ApplicationError(f"service {spec.id} failed: {self.status.error}", type="ServiceFailed",
                                   non_retryable=True) from None

    async def _deploy(self, spec: ServiceSpec) -> None:
        """Place (reserving what is chosen), then build. A backend that still refuses for capacity
        (something outside Legato took a host, or fills a cluster) makes it give back everything
        this placement holds and place again without what refused: placement is joint, so one
        component elsewhere can change where its neighbours are best. Bounded, each try a step."""
        ctx = self.ctx(spec)
        exclude = Exclusions()
        for attempt in range(1, MAX_PLACEMENTS + 1):
            decision = await self._place(ctx, spec, attempt, exclude)
            base = self.wid if attempt == 1 else f"{self.wid}/try-{attempt}"  # fresh op ids: the old ones were done
            try:
                await self._build(ctx, spec, decision, base)
                break
            except Exception as err:
                refused = refused_resources(err)
                if refused is None or attempt == MAX_PLACEMENTS or decision.federated:
                    raise
                exclude.add(refused)
                step = f"re-place [{attempt + 1}/{MAX_PLACEMENTS}]"
                self.progress.begin(step, f"{error_text(err)}: giving back what this placement holds, then "
                                          f"placing again without {', '.join(refused)}")
                await self.saga.unwind()
                self.progress.done(step)
        await release_hold(ctx, ctx.reservation)
        self.entity.deployed = True
        await self._set_state(ServiceState.active)

    async def _place(self, ctx: Ctx, spec: ServiceSpec, attempt: int, exclude: Exclusions) -> PlacementDecision:
        await self._set_state(ServiceState.placing)
        self.progress.begin("place")
        # A partner's request is served here or not at all: it is never federated onwards.
        place = PlaceRequest(spec=spec, exclude=exclude, hold=hold(ctx, f"{self.wid}/place" + (
            f"/{attempt}" if attempt > 1 else "")), federate=not (spec.tenant or "").startswith(PARTNER_TENANT_PREFIX))
        decision = await self._activity(PlacementActivities.place, place)
        if not decision.feasible:
            self.progress.failed("place", decision.infeasible_reason or "infeasible")
            raise ApplicationError(f"placement infeasible: {decision.infeasible_reason}", type="PlacementInfeasible")
        self.status.placement = decision
        self.index(SITES.value_set(sorted({p.site for p in decision.components})))
        self.progress.done("place", ", ".join([f"{p.component}→{p.site}" for p in decision.components]
                                              + [f"{f.component}→partner {f.partner}" for f in decision.federated]))
        return decision

    async def _build(self, ctx: Ctx, spec: ServiceSpec, decision: PlacementDecision, base: str) -> None:
        _, parts = await gather_all([self._deploy_local(ctx, decision, base),
                                     federate(ctx, decision, max(self.req.ready_poll_seconds, 0.5))])
        self.entity.federated = {p.partner: p for p in parts}
        self.refresh_endpoints()

        await self._set_state(ServiceState.connecting)
        # Links and user QoS within our continuum; a partner wires its own part (inter-operator links
        # are not built).
        local = self.entity.components
        self.entity.connections = await gather_all(
            [connect_link(ctx, i, link, local, f"{base}/link/{i}")
             for i, link in enumerate(spec.links) if link.source in local and link.target in local]
            + [set_user_qos(ctx, i, area, local, f"{base}/qos/{i}")
               for i, area in enumerate(spec.user_areas) if spec.entry_component(area) in local]
        )

    async def _deploy_local(self, ctx, decision: PlacementDecision, base: str) -> None:
        await self._set_state(ServiceState.provisioning)
        clusters = await gather_all(provision_site(ctx, plan, f"{base}/{plan.site}") for plan in decision.sites)
        cluster_of_site = {plan.site: cluster for plan, cluster in zip(decision.sites, clusters, strict=True)}
        plan_of_site = {plan.site: plan for plan in decision.sites}

        await self._set_state(ServiceState.deploying)
        states = await gather_all(
            deploy_component(ctx, p.component, p.site, cluster_of_site[p.site], f"{base}/{p.component}",
                             replicas_on_nodes(plan_of_site[p.site], p.component))
            for p in decision.components
        )
        self.entity.components = {s.name: s for s in states}

    # --- plumbing ------------------------------------------------------------------------------

    def refresh_endpoints(self) -> None:
        self.status.endpoints = [
            Endpoint(component=c.name, site=c.site, cluster=c.cluster, address=c.endpoint)
            for c in self.entity.components.values()
        ] + [  # parts a partner runs: its site, prefixed with the partner's id
            e.model_copy(update={"site": f"{part.partner}:{e.site}"})
            for part in self.entity.federated.values() for e in part.endpoints
        ]

    async def _activity(self, activity, arg, result_type=None):
        return await workflow.execute_activity_method(activity, arg, **STEP)

    def index(self, *updates) -> None:
        """Search attributes for the Web UI, when the namespace has them."""
        if self.req.index_search_attributes:
            workflow.upsert_search_attributes(list(updates))

    def index_operation(self, kind: str | None) -> None:
        self.index(OPERATION.value_set(kind) if kind else OPERATION.value_unset())
        if kind is None:
            self.index(SITES.value_set(sorted({c.site for c in self.entity.components.values()})))

    async def _set_state(self, state: ServiceState) -> None:
        self.progress.state(state)
        self.index(STATE.value_set(str(state)))
        await self.record_service()

    async def record_service(self) -> None:
        update = ServiceUpdate(service_id=self.status.service_id, state=str(self.status.state),
                               error=self.status.error)
        if self.status.state in (ServiceState.active, ServiceState.failed, ServiceState.terminated):
            update.placement = self.status.placement.model_dump(mode="json") if self.status.placement else None
            update.endpoints = [e.model_dump() for e in self.status.endpoints]
            update.spec = self.entity.spec.model_dump(mode="json", by_alias=True)
        await workflow.execute_activity_method(InventoryActivities.update_service, update, **UNDO)
