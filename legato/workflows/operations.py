"""Day-2 operations on a running service: Temporal updates on its entity workflow.

One operation at a time per service: a second one, while the first runs, is rejected by the
validator with type `Busy` (the API answers 409); clients retry. Each operation is idempotent on
its request id: asking again returns the first outcome, whether it is still running or done."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import (
        ContinuityQuery,
        DeployWorkload,
        PlaceComponent,
        PlanGrowth,
        RecordOperation,
        ScaleWorkload,
        SiteChoice,
        UpgradeWorkload,
        WorkloadRef,
    )
    from legato.activities.inventory import InventoryActivities
    from legato.activities.placement import PlacementActivities
    from legato.activities.wdm import WDMActivities
    from legato.model import ServiceState, SitePlan
    from legato.model.clusters import ScaleClusterRequest, ScaleClusterResult
    from legato.model.operations import Continuity, Finding, Operation, OperationRecord, RepairRequest
    from legato.model.service import PlacementRules
    from legato.model.workloads import WorkloadStatus
    from legato.workflows.entity import ComponentState
    from legato.workflows.federate_request import forward_operation
    from legato.workflows.migrate_workload import MigrateRequest, MigrateResult, MigrateWorkload
    from legato.workflows.options import STEP, UNDO
    from legato.workflows.progress import CHILD_PREFIX, error_text
    from legato.workflows.saga import Saga
    from legato.workflows.scale_cluster import ScaleCluster
    from legato.workflows.steps import (
        Ctx,
        connect_link,
        deploy_component,
        grow_cluster,
        hold,
        release_hold,
        replicas_on_nodes,
        set_user_qos,
        wait_ready,
        workload_spec,
    )

KEEP_FINISHED = 200  # finished operations remembered for idempotency (and carried across continue-as-new)


def rid_of(base: str) -> str:
    """The request id in an operation's op-id base (`<workflow id>/op/<request id>`)."""
    return base.rsplit("/op/", 1)[-1]


def params_of(op: Operation) -> dict:
    """What an operation asks, as its record keeps it (who asked and its id apart)."""
    return op.request.model_dump(mode="json", exclude={"request_id", "requested_by"})


def asked(params: dict) -> dict:
    """Params compared for idempotency: fields left unset do not make two requests different."""
    return {k: v for k, v in params.items() if v is not None}


class Refused(Exception):
    """The operation cannot be done and nothing was changed (e.g. no site can take a moved component)."""


class Operations:
    """Mixed into DeployService (which provides entity, saga, progress, ctx(), record_service())."""

    @workflow.update(name="operate")
    async def operate(self, op: Operation) -> OperationRecord:
        rid = op.request.request_id
        if rid in self.entity.operations:
            return self.entity.operations[rid]
        if self.current_op is not None:
            if self.current_op.request_id == rid:
                await workflow.wait_condition(lambda: rid in self.entity.operations)
                return self.entity.operations[rid]
            raise ApplicationError(f"operation {self.current_op.request_id} ({self.current_op.kind}) is running",
                                   type="Busy")
        return await self._execute(op, rid)

    @workflow.signal(name="repair")
    def repair(self, request: RepairRequest) -> None:
        """From the Reconcile workflow: run when no operation is running (see the main loop)."""
        if self.entity.deployed and self.status.state == ServiceState.active:
            self.entity.pending_repairs.append(request.model_dump(mode="json"))

    async def run_repairs(self) -> None:
        findings = [f for r in self.entity.pending_repairs for f in RepairRequest.model_validate(r).findings]
        self.entity.pending_repairs.clear()
        rid = f"repair-{workflow.uuid4().hex[:12]}"
        await self._execute(Operation(kind="repair", repair=RepairRequest(
            request_id=rid, requested_by="reconcile", findings=findings)), rid)

    async def _execute(self, op: Operation, rid: str) -> OperationRecord:
        record = OperationRecord(request_id=rid, kind=op.kind, component=op.component, params=params_of(op),
                                 requested_by=op.request.requested_by, started_at=workflow.now())
        self.current_op = record
        self.index_operation(op.kind)
        self.samples.clear()
        before = self.entity.components[op.component].replicas if op.component in self.entity.components else None
        try:
            await self._record_operation(record)
            step = f"{op.kind}@{op.component}" if op.component else op.kind
            try:
                record.detail = await self.progress.track(f"{step} [{rid}]", "", self._dispatch(op, rid))
                record.state = "succeeded"
            except Refused as why:
                record.state, record.detail = "refused", str(why)
            except RolledBack as why:
                record.state, record.detail = "rolled-back", str(why)
            except Exception as err:  # the operation failed; the service keeps running as it was
                record.state, record.detail = "failed", error_text(err)
            record.ended_at = workflow.now()
            if before is not None:
                record.continuity = await self._continuity(op.component, before, record)
            workflow.metric_meter().create_counter("legato_operation_outcomes", "Day-2 operations").add(
                1, {"kind": op.kind, "outcome": record.state})
            self.entity.operations[rid] = record
            for old in list(self.entity.operations)[:-KEEP_FINISHED]:
                del self.entity.operations[old]
            await self._record_operation(record)
            await self.record_service()
        finally:
            self.current_op = None
            self.index_operation(None)
        return record

    @operate.validator
    def _validate(self, op: Operation) -> None:
        rid = op.request.request_id
        if not rid:
            raise ApplicationError("request_id is required", type="InvalidOperation")
        known = self.entity.operations.get(rid) or (
            self.current_op if self.current_op and self.current_op.request_id == rid else None)
        if known is not None:  # a retry: answered with the first outcome, if it is the same request
            if (known.kind, known.component, asked(known.params)) != (op.kind, op.component, asked(params_of(op))):
                raise ApplicationError(
                    f"request id {rid} was used for another request ({known.kind} "
                    f"{known.component or ''} {asked(known.params)}); use a new id for this one",
                    type="IdempotencyMismatch")
            return
        if self.entity.terminate_requested or self.status.state != ServiceState.active:
            state, sid = self.status.state, self.entity.spec.id
            raise ApplicationError(
                f"service '{sid}' is {state}: it takes no more operations" if self.entity.terminate_requested
                or state in (ServiceState.terminating, ServiceState.terminated, ServiceState.failed)
                else f"service '{sid}' is {state}; operations wait until it is active", type="InvalidState")
        if self.current_op is not None:
            raise ApplicationError(f"operation {self.current_op.request_id} ({self.current_op.kind}) is running; "
                                   "retry when it ends", type="Busy")
        part = self.entity.federated_part(op.component)
        if part is not None and op.kind not in ("scale", "upgrade"):
            raise ApplicationError(f"component '{op.component}' runs at partner {part.partner}: only scale and "
                                   "upgrade are forwarded", type="InvalidOperation")
        if op.kind != "update" and op.component not in self.entity.components and part is None:
            remote = [c for p in self.entity.federated.values() for c in p.components]
            known = sorted([*self.entity.components, *remote])
            raise ApplicationError(f"unknown component '{op.component}' (known: {known})", type="NotFound")
        if op.kind == "move" and op.move.site == self.entity.components[op.component].site:
            raise ApplicationError(f"component '{op.component}' already runs at {op.move.site}",
                                   type="InvalidOperation")

    async def _dispatch(self, op: Operation, rid: str) -> str:
        base = f"{self.wid}/op/{rid}"
        part = self.entity.federated_part(op.component)
        if part is not None:
            return await self._forward(op, part, base)
        if op.kind == "scale":
            return await self._scale(op, base)
        if op.kind == "upgrade":
            return await self._upgrade(op, base)
        if op.kind == "move":
            return await self._move(op, base)
        if op.kind == "repair":
            return await self._repair(op.repair.findings, base)
        spec = self.entity.spec
        self.entity.spec = spec.model_copy(update={
            "policy": op.update.policy or spec.policy,
            "labels": spec.labels if op.update.labels is None else op.update.labels,
        })
        return "policy and labels updated; later moves use them"

    # --- forwarded to the partner that runs the component ---------------------------------------

    async def _forward(self, op: Operation, part, base: str) -> str:
        record = await forward_operation(self.ctx(), part, op, base)
        detail = f"at partner {part.partner}: {record.get('detail', '')}"
        state = record.get("state")
        if state == "refused":
            raise Refused(detail)
        if state == "rolled-back":
            raise RolledBack(detail)
        if state != "succeeded":
            raise ApplicationError(detail, type="PartnerOperationFailed")
        changes = {"replicas": op.scale.replicas} if op.kind == "scale" else {
            "version": op.upgrade.version, "image": op.upgrade.image or self.entity.spec.component(op.component).image}
        self.entity.spec = self.entity.spec.with_component(op.component, **changes)
        return detail

    # --- scale ---------------------------------------------------------------------------------

    def _op_ctx(self, op: Operation, saga: Saga) -> Ctx:
        """A context of its own for one operation: its undo list, and its progress deadline."""
        ctx = self.ctx(progress_deadline=op.request.progress_deadline_seconds)
        ctx.saga = saga
        return ctx

    async def _scale(self, op: Operation, base: str) -> str:
        name, replicas = op.component, op.scale.replicas
        state = self.entity.components[name]
        before = state.replicas
        if replicas == before:
            return f"already {replicas} replicas"
        local = Saga([], self.progress)
        ctx = self._op_ctx(op, local)
        plan = None
        try:
            if replicas > before:
                plan = await self._make_room(ctx, name, replicas - before, base, f"cannot scale {name} to {replicas}")
            step = f"scale-workload@{name}"
            try:
                await self.progress.track(step, f"{before} → {replicas}", self._scale_workload(
                    ctx, state, replicas, f"{base}/scale", replicas_on_nodes(plan, name), STEP))
                await wait_ready(ctx, name, state.cluster, state.workload_id, f"{base}/wait")
            except Exception:
                # As it was: the replicas asked for before (those that never became ready go), then
                # the nodes grown for them.
                await self.progress.track(f"scale-back@{name}", f"→ {before}", self._scale_workload(
                    ctx, state, before, f"{base}/scale-back", [], UNDO))
                await local.unwind(only=lambda c: not c.key.startswith("reservation@"))
                raise
        finally:
            if ctx.reservation is not None:
                await release_hold(ctx, ctx.reservation)
        self.saga.undo.extend(local.undo)
        state.replicas = replicas
        self.entity.spec = self.entity.spec.with_component(name, replicas=replicas)
        if replicas < before:
            await self._give_back_nodes(state.site, state.cluster, base)
        return f"{name}: {before} → {replicas} replicas"

    async def _scale_workload(self, ctx: Ctx, state, replicas: int, op_id: str, prefer_nodes: list[str],
                              options: dict) -> WorkloadStatus:
        return await workflow.execute_activity_method(WDMActivities.scale_workload, ScaleWorkload(
            op_id=op_id, service_id=ctx.sid, step=f"scale-workload@{state.name}", cluster_id=state.cluster,
            workload_id=state.workload_id, component=state.name, replicas=replicas, prefer_nodes=prefer_nodes,
            reservation=ctx.reservation), **options)

    async def _make_room(self, ctx: Ctx, name: str, extra: int, base: str, refusal: str) -> SitePlan:
        """Room for `extra` more replicas on the component's cluster, reserved node by node: grow
        the cluster first if it is full. The reservation's release is in `ctx.saga`."""
        state = self.entity.components[name]
        choice = await workflow.execute_activity_method(PlacementActivities.plan_growth, PlanGrowth(
            spec=self.entity.spec, component=name, extra_replicas=extra, site=state.site,
            cluster_id=state.cluster, hold=hold(ctx, f"{base}/room")), **STEP)
        if choice.plan is None:
            raise Refused(f"{refusal}: {choice.reason}")
        if choice.plan.action == "scale":
            await grow_cluster(ctx, state.site, state.cluster, choice.plan.add_hosts, f"{base}/scale-cluster")
        return choice.plan

    async def _give_back_nodes(self, site: str, cluster: str, base: str) -> None:
        """After a scale-in: the nodes the service added to the cluster that it no longer needs are
        drained make-before-break and their hosts released (ScaleCluster); nodes whose pods fit
        nowhere else stay with the service until it needs them no more."""
        grown = [c for c in self.saga.undo
                 if c.key == f"nodes@{site}" and c.child is not None and c.child.cluster_id == cluster]
        allocations = {h: c.child.allocation_op_id for c in grown for h in c.child.remove_hosts
                       if c.child.allocation_op_id}
        if not allocations:
            return
        req = ScaleClusterRequest(service_id=self.entity.spec.id, site=site, cluster_id=cluster,
                                  remove_hosts=sorted(allocations), allocations=allocations, stuck="keep",
                                  ready_poll_seconds=self.req.ready_poll_seconds)
        result: ScaleClusterResult = await self.progress.track(
            f"give-back-nodes@{site}", f"{cluster} -= {', '.join(sorted(allocations))} (those no longer needed)",
            workflow.execute_child_workflow(ScaleCluster.run, req, id=f"{base}/give-back-nodes",
                                            result_type=ScaleClusterResult))
        gone = set(result.removed)
        for c in grown:
            c.child.remove_hosts = [h for h in c.child.remove_hosts if h not in gone]
        self.saga.drop(lambda c: not (c in grown and not c.child.remove_hosts))

    # --- upgrade -------------------------------------------------------------------------------

    async def _upgrade(self, op: Operation, base: str) -> str:
        name, req = op.component, op.upgrade
        state = self.entity.components[name]
        image = req.image or state.image
        if (image, req.version) == (state.image, state.version):
            return f"{name} already runs {image}:{req.version}"
        # Surge and canary replicas run beside the old ones: make room first. Nodes grown for them stay
        # with the service (given back at teardown) rather than draining the new replicas off again.
        grown = Saga([], self.progress)
        ctx = self._op_ctx(op, grown)
        # The canary stays until the main rollout is done, beside its surge replica; where there is
        # room for one or the other only (a full GPU site), it goes before the rollout instead.
        canary: Saga | None = None
        try:
            refusal = f"no room to roll out {name} {req.version}"
            beside = req.strategy == "canary"
            try:
                plan = await self._make_room(ctx, name, req.canary.replicas + 1 if beside else 1, base, refusal)
            except Refused:
                if not beside:
                    raise
                beside = False
                await release_hold(ctx, f"{base}/room")
                plan = await self._make_room(ctx, name, req.canary.replicas, f"{base}/alone", refusal)
            self.saga.undo.extend(c for c in grown.undo if not c.key.startswith("reservation@"))
            if req.strategy == "canary":
                canary = await self._canary_gate(ctx, name, image, req, base, replicas_on_nodes(plan, name))
                if not beside:
                    canary, gone = None, canary
                    await self._remove_canary(gone, name, "room for the canary or the surge replica, not both")
            await self._roll(ctx, name, image, req.version, base)
        finally:
            if canary is not None:
                await self._remove_canary(canary, name)
            if ctx.reservation is not None:
                await release_hold(ctx, ctx.reservation)
        before = state.version
        state.image, state.version = image, req.version
        self.entity.spec = self.entity.spec.with_component(name, image=image, version=req.version)
        return f"{name}: {before} → {req.version} ({req.strategy})"

    async def _roll(self, ctx: Ctx, name: str, image: str, version: str, base: str) -> None:
        """Rolling, make-before-break. Replicas of the new version not ready by the progress deadline
        roll it back to the version that served, the same way."""
        state = self.entity.components[name]
        step = f"rolling-upgrade@{name}"
        await self.progress.track(step, f"{state.version} → {version}", self._upgrade_workload(
            ctx, state, image, version, f"{base}/upgrade", STEP))
        try:
            await wait_ready(ctx, name, state.cluster, state.workload_id, f"{base}/wait")
        except Exception as err:
            await self.progress.track(f"roll-back@{name}", f"{version} → {state.version}", self._upgrade_workload(
                ctx, state, state.image, state.version, f"{base}/roll-back", UNDO))
            await wait_ready(ctx, name, state.cluster, state.workload_id, f"{base}/wait-back")
            raise ApplicationError(f"{name} {version} was not ready in time ({error_text(err)}); rolled back, "
                                   f"{name} stays on {state.version}", type="UpgradeFailed") from None

    async def _upgrade_workload(self, ctx: Ctx, state, image: str, version: str, op_id: str,
                                options: dict) -> WorkloadStatus:
        return await workflow.execute_activity_method(WDMActivities.upgrade_workload, UpgradeWorkload(
            op_id=op_id, service_id=ctx.sid, step=f"rolling-upgrade@{state.name}", cluster_id=state.cluster,
            workload_id=state.workload_id, component=state.name, image=image, version=version), **options)

    async def _canary_gate(self, op_ctx: Ctx, name: str, image: str, req, base: str,
                           prefer_nodes: list[str]) -> Saga:
        """A few replicas of the new version beside the old ones; the gate reads their error rate.
        Passing it lets the main workload roll, the canary serving meanwhile; it goes once the
        rollout is done (the returned saga removes it). Failing it removes the canary, and the
        operation ends rolled back, the old replicas having served all along. A canary not ready by
        the progress deadline is removed and the operation fails."""
        state = self.entity.components[name]
        canary = f"{name}-canary"
        local = Saga([], self.progress)
        spec = self.entity.spec.with_component(name, image=image, version=req.version, replicas=req.canary.replicas)
        ctx = self.ctx(spec.model_copy(update={"components": [
            c.model_copy(update={"name": canary}) if c.name == name else c for c in spec.components]}),
            progress_deadline=op_ctx.progress_deadline)
        ctx.saga, ctx.reservation = local, op_ctx.reservation
        step = f"canary-gate@{name}"
        try:
            deployed = await deploy_component(ctx, canary, state.site, state.cluster, f"{base}/canary", prefer_nodes)
            self.progress.begin(step, f"observing {req.canary.observe_seconds:g}s, max error rate "
                                      f"{req.canary.max_error_rate:g}")
            await workflow.sleep(req.canary.observe_seconds)
            metrics = await workflow.execute_activity_method(WDMActivities.workload_metrics, WorkloadRef(
                cluster_id=state.cluster, workload_id=deployed.workload_id), **STEP)
        except Exception:
            await self._remove_canary(local, name)
            raise
        if metrics.error_rate > req.canary.max_error_rate:
            self.progress.failed(step, f"error rate {metrics.error_rate:g} > {req.canary.max_error_rate:g}")
            await self._remove_canary(local, name)
            raise RolledBack(f"canary {req.version} failed its health gate (error rate {metrics.error_rate:g} > "
                             f"{req.canary.max_error_rate:g}); rolled back, {name} stays on {state.version}")
        self.progress.done(step, f"error rate {metrics.error_rate:g} ≤ {req.canary.max_error_rate:g}; "
                                 "the canary serves until the rollout is done")
        return local

    async def _remove_canary(self, canary: Saga, name: str, why: str = "") -> None:
        """The canary goes, shown as what it is (one step), not as an undo of a failed deployment."""
        left = await self.progress.track(f"remove-canary@{name}", f"{name}-canary{': ' + why if why else ''}",
                                         Saga(canary.undo).unwind())
        if left:
            raise ApplicationError(f"canary of {name} not removed: {'; '.join(left)}", type="CanaryLeft")

    # --- repair (drift found by Reconcile) ------------------------------------------------------

    async def _repair(self, findings: list[Finding], base: str) -> str:
        """Put back what the inventory records, through the same activities a deployment uses."""
        done: list[str] = []
        for name in sorted({f.component for f in findings if f.component in self.entity.components}):
            state = self.entity.components[name]
            comp = self.entity.spec.component(name)
            step = f"redeploy@{name}"
            await self.progress.track(step, f"{state.workload_id} ×{state.replicas} on {state.cluster}",
                                      workflow.execute_activity_method(WDMActivities.deploy_workload, DeployWorkload(
                                          op_id=f"{base}/{name}/redeploy", service_id=self.entity.spec.id, step=step,
                                          cluster_id=state.cluster, site=state.site,
                                          workload=workload_spec(self.entity.spec, comp, state.workload_id,
                                                                 version=state.version, replicas=state.replicas,
                                                                 image=state.image)), **STEP))
            await wait_ready(self.ctx(), name, state.cluster, state.workload_id, f"{base}/{name}/wait")
            done.append(f"{name} redeployed")
        lost = {f.resource for f in findings if f.kind == "connection-missing"}
        for conn in [c for c in self.entity.connections if c.id in lost]:
            kind, index = conn.key.split("@")
            ctx, i = self.ctx(), int(index)
            if kind == "link":
                new = await connect_link(ctx, i, self.entity.spec.links[i], self.entity.components,
                                         f"{base}/link/{i}")
            else:
                new = await set_user_qos(ctx, i, self.entity.spec.user_areas[i], self.entity.components,
                                         f"{base}/qos/{i}")
            self.saga.drop(lambda c, old=f"{conn.key}#{conn.id}": c.key != old)
            self.entity.connections = [new if c.id == conn.id else c for c in self.entity.connections]
            done.append(f"{conn.description} reconnected")
        return "; ".join(done) or "nothing left to repair"

    # --- move ----------------------------------------------------------------------------------

    async def _move(self, op: Operation, base: str) -> str:
        name, req = op.component, op.move
        spec = self.entity.spec
        if req.placement is not None:
            spec = spec.with_component(name, placement=req.placement)
        elif req.site is not None and req.pin:  # the operator's choice wins over rules set before: pin it there
            spec = spec.with_component(name, placement=PlacementRules(sites=[req.site]))
        current = {n: c.site for n, c in self.entity.components.items()}
        ctx = self._op_ctx(op, self.saga)
        reservation = hold(ctx, f"{base}/place")
        try:
            choice = await workflow.execute_activity_method(PlacementActivities.place_component, PlaceComponent(
                spec=spec, component=name, current=current, target_site=req.site, hold=reservation), **STEP)
            if choice.plan is None:
                raise Refused(f"{choice.reason}; {name} stays at {current[name]}")
            source = self.entity.components[name]
            child_id = f"{base}/migrate"
            result: MigrateResult = await self.progress.track(
                f"migrate@{name}", f"{CHILD_PREFIX}{child_id}", workflow.execute_child_workflow(
                    MigrateWorkload.run,
                    MigrateRequest(spec=spec, component=name, plan=choice.plan, components=self.entity.components,
                                   connections=self.entity.connections, ready_poll_seconds=self.req.ready_poll_seconds,
                                   reservation=reservation.op_id, progress_deadline=ctx.progress_deadline),
                    id=child_id))
        finally:
            await release_hold(ctx, reservation.op_id)
        self.status.steps.extend(result.steps)  # the child's steps, kept with the service's
        # Adopt the target's resources; forget what the switch replaced.
        replaced = {c.key: c for c in result.connections}
        gone = {f"workload@{name}@{source.cluster}"} | {
            f"{c.key}#{c.id}" for c in self.entity.connections if c.key in replaced}
        self.saga.drop(lambda c: c.key not in gone)
        self.saga.undo.extend(result.undo)
        self.entity.connections = [replaced.get(c.key, c) for c in self.entity.connections]
        self.entity.components[name] = result.component
        self.entity.spec = spec
        self._update_placement(name, result.component, choice, rid_of(base))
        self.refresh_endpoints()
        await self._free_site(source.site)
        return f"{name}: {source.site} → {result.component.site} ({choice.reason})"

    async def _free_site(self, site: str) -> None:
        """Give back what the service holds at a site none of its components uses any more."""
        if any(c.site == site for c in self.entity.components.values()):
            return
        keys = {f"cluster@{site}", f"hosts@{site}", f"nodes@{site}"}
        await self.saga.unwind(only=lambda c: c.key in keys)

    def _update_placement(self, name: str, moved: ComponentState, choice: SiteChoice, rid: str) -> None:
        """The placement explains the service as it is: the component's new site with its reasons;
        where it ran before, and why, goes to its history."""
        placement = self.status.placement
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

    async def _continuity(self, name: str, before: int, record: OperationRecord) -> Continuity | None:
        """How the component served while the operation ran: exact from the backend's history where
        it keeps one, else the readiness waits' samples. Telling it never fails the operation."""
        after = self.entity.components[name].replicas if name in self.entity.components else before
        try:
            history = await workflow.execute_activity_method(WDMActivities.serving_history, ContinuityQuery(
                service_id=self.entity.spec.id, component=name, since=record.started_at.timestamp(),
                until=record.ended_at.timestamp()), **STEP)
        except Exception as err:  # noqa: BLE001 - reported as unknown
            workflow.logger.warning("continuity of %s not read: %s", name, error_text(err))
            history = None
        if history is not None:
            return Continuity(min_ready=history.min_ready, replicas_before=before, replicas_after=after,
                              path_connected=history.path_connected, measured="history")
        if name in self.samples:
            return Continuity(min_ready=self.samples[name], replicas_before=before, replicas_after=after,
                              measured="sampled")
        return None

    async def _record_operation(self, record: OperationRecord) -> None:
        await workflow.execute_activity_method(InventoryActivities.record_operation, RecordOperation(
            service_id=self.entity.spec.id, record=record.model_dump(mode="json")), **UNDO)


class RolledBack(Exception):
    """The operation was undone on purpose (a canary failed its gate); the service is as before."""
