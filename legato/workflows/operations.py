"""Day-2 operations on a running service: Temporal updates on its entity workflow.

One operation at a time per service: a second one, while the first runs, is rejected by the
validator with type `Busy` (the API answers 409); clients retry. Each operation is idempotent on
its request id: asking again returns the first outcome, whether it is still running or done. What
each kind of operation does is in legato.workflows.day2; here is how they are taken, run one at a
time, and recorded.

An upgrade or a move asked outside the maintenance windows that apply arrives carrying when they
next open (`op.window`, set by the service client). It is not refused as Busy: it waits, durably,
as a record in `entity.operations` with state `waiting` (carried across continue-as-new like every
record), and does not hold the one-at-a-time slot, so scaling and repairs go on meanwhile. When its
window opens the main loop asks the windows again (they may have changed) and runs it, or waits on.
A request that says `outside_window: refuse` is refused by the validator instead."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import ContinuityQuery, RecordOperation
    from legato.activities.inventory import InventoryActivities
    from legato.activities.maintenance import MaintenanceActivities, WindowCheck, WindowQuery
    from legato.activities.wdm import WDMActivities
    from legato.model import ServiceState
    from legato.model.intents import slo_errors
    from legato.model.operations import (
        Continuity,
        MoveRequest,
        Operation,
        OperationRecord,
        OwnClusterUpgradeRequest,
        RepairRequest,
        ScaleRequest,
        UpdateServiceRequest,
        UpgradeRequest,
        asked,
        params_of,
    )
    from legato.model.user_areas import connection_changes
    from legato.workflows.day2 import cluster_upgrade, forward, move, repair, scale, upgrade
    from legato.workflows.day2.context import Refused, RolledBack
    from legato.workflows.options import STEP, UNDO
    from legato.workflows.progress import error_text

KEEP_FINISHED = 200  # finished operations remembered for idempotency (and carried across continue-as-new)
WAITING = "waiting"  # the state of an operation's record while it waits for its maintenance window
BODIES = {"scale": ScaleRequest, "upgrade": UpgradeRequest, "move": MoveRequest, "update": UpdateServiceRequest,
          "cluster_upgrade": OwnClusterUpgradeRequest}


class Operations:
    """Mixed into DeployService, which is the `ServiceContext` the operations run on (and provides
    record_service(), index_operation() and the running operation's readiness samples)."""

    @workflow.update(name="operate")
    async def operate(self, op: Operation) -> OperationRecord:
        rid = op.request.request_id
        if rid in self.entity.operations:
            return self.entity.operations[rid]
        if self.current_op is not None:
            if self.current_op.request_id == rid:
                await workflow.wait_condition(lambda: rid in self.entity.operations)
                return self.entity.operations[rid]
            if not self._waits(op):
                raise ApplicationError(f"operation {self.current_op.request_id} ({self.current_op.kind}) is "
                                       "running", type="Busy")
        if self._waits(op):
            return await self._park(op, rid)
        if self.current_op is not None:  # its window opened on the way here, and the service is busy
            raise ApplicationError(f"operation {self.current_op.request_id} ({self.current_op.kind}) is running",
                                   type="Busy")
        return await self._execute(op, rid)

    def _waits(self, op: Operation) -> bool:
        return op.window is not None and op.window.opens_at > workflow.now()

    async def _park(self, op: Operation, rid: str) -> OperationRecord:
        """Hold `op` until its maintenance window opens: a `waiting` record, answered to retries."""
        record = OperationRecord(request_id=rid, kind=op.kind, component=op.component, params=params_of(op),
                                 requested_by=op.request.requested_by, state=WAITING, detail=op.window.describe(),
                                 started_at=workflow.now(), window=op.window)
        self.entity.operations[rid] = record
        await self._record_operation(record)
        return record

    # --- operations waiting for their maintenance window (the main loop runs them) ------------------

    def _waiting(self) -> list[OperationRecord]:
        return sorted((r for r in self.entity.operations.values() if r.state == WAITING and r.window is not None),
                      key=lambda r: r.window.opens_at)

    def waiting_due(self) -> bool:
        """An operation's window has opened: the main loop runs it once no other operation runs."""
        return any(r.window.opens_at <= workflow.now() for r in self._waiting())

    def next_window(self) -> datetime | None:
        """When the first waiting operation's window opens (None: none waits)."""
        waiting = self._waiting()
        return waiting[0].window.opens_at if waiting else None

    def until_window(self) -> float | None:
        """Seconds until the next waiting operation's window opens; None if none waits (or one is
        due already: the main loop's condition sees that one)."""
        waiting = self._waiting()
        if not waiting or self.waiting_due():
            return None
        return (waiting[0].window.opens_at - workflow.now()).total_seconds()

    async def run_waiting(self) -> None:
        """The first operation whose window has opened: asked of the windows again (they may have
        changed while it waited; or another operation ran until this one closed), then run, or
        left waiting for the next opening. Windows that can no longer be read never block it:
        they were open by the last reading."""
        record = next(r for r in self._waiting() if r.window.opens_at <= workflow.now())
        rid, op = record.request_id, self._operation_of(record)
        try:
            check: WindowCheck = await workflow.execute_activity_method(
                MaintenanceActivities.window, WindowQuery(service_id=self.entity.spec.id, operation=op,
                                                          at=workflow.now()), **STEP)
        except Exception as err:  # noqa: BLE001 - the inventory unreadable for a long while
            workflow.logger.warning("maintenance windows of %s not read again (%s); running %s",
                                    self.entity.spec.id, error_text(err), rid)
            check = WindowCheck()
        if check.refusal is not None:
            record.state, record.detail, record.ended_at, record.window = "refused", check.refusal, workflow.now(), None
            await self._record_operation(record)
            return
        if check.wait is not None and check.wait.opens_at > workflow.now():
            record.window, record.detail = check.wait, check.wait.describe()
            await self._record_operation(record)
            return
        del self.entity.operations[rid]
        await self._execute(op, rid)

    async def cancel_waiting(self) -> None:
        """The service goes: what still waits for a window never runs, and its record says so."""
        for record in self._waiting():
            record.state, record.ended_at, record.window = "cancelled", workflow.now(), None
            record.detail = "cancelled: the service was removed before its maintenance window opened"
            await self._record_operation(record)

    def _operation_of(self, record: OperationRecord) -> Operation:
        body = BODIES[record.kind].model_validate(
            {**record.params, "request_id": record.request_id, "requested_by": record.requested_by})
        return Operation(kind=record.kind, component=record.component, **{record.kind: body})

    @workflow.signal(name="repair")
    def repair(self, request: RepairRequest) -> None:
        """From the Reconcile workflow, or the autopilot healing a failed host: run when no
        operation is running (see the main loop)."""
        if self.entity.deployed and self.status.state == ServiceState.active:
            self.entity.pending_repairs.append(request.model_dump(mode="json"))

    async def run_repairs(self) -> None:
        asked = [RepairRequest.model_validate(r) for r in self.entity.pending_repairs]
        findings = [f for r in asked for f in r.findings]
        by = ", ".join(sorted({r.requested_by or "reconcile" for r in asked}))  # reconcile, the autopilot's healing
        self.entity.pending_repairs.clear()
        rid = f"repair-{workflow.uuid4().hex[:12]}"
        await self._execute(Operation(kind="repair", repair=RepairRequest(
            request_id=rid, requested_by=by, findings=findings)), rid)

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
            finished = [k for k, r in self.entity.operations.items() if r.state != WAITING]
            for old in finished[:-KEEP_FINISHED]:
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
        if self._waits(op) and op.request.outside_window == "refuse":
            raise ApplicationError(
                f"{op.kind} is outside the maintenance windows ({op.window.reason}); they next open together at "
                f"{op.window.opens_at:%Y-%m-%d %H:%M:%S} UTC: ask again then, or with outside_window=wait to have "
                "it wait for them", type="OutsideMaintenanceWindow")
        if self.current_op is not None and not self._waits(op):
            raise ApplicationError(f"operation {self.current_op.request_id} ({self.current_op.kind}) is running; "
                                   "retry when it ends", type="Busy")
        part = self.entity.federated_part(op.component)
        if part is not None and op.kind not in ("scale", "upgrade"):
            raise ApplicationError(f"component '{op.component}' runs at partner {part.partner}: only scale and "
                                   "upgrade are forwarded", type="InvalidOperation")
        if op.kind == "cluster_upgrade":
            if cluster_upgrade.own_cluster_site(self, op.cluster_upgrade.cluster_id) is None:
                raise ApplicationError(f"cluster '{op.cluster_upgrade.cluster_id}' is not one of this service's own "
                                       "(a shared cluster is upgraded by the operator)", type="NotFound")
            return
        if op.kind == "update" and op.update.slos is not None:
            wrong = slo_errors(self.entity.spec.model_copy(update={"slos": op.update.slos}))
            if wrong:
                raise ApplicationError("; ".join(wrong), type="InvalidOperation")
        if op.kind == "update" and op.update.user_areas is not None:
            wrong = [why for _, why in connection_changes(self.entity.spec, op.update.user_areas)]
            if wrong:
                raise ApplicationError("user_areas: " + "; ".join(wrong), type="InvalidOperation")
        if op.kind != "update" and op.component not in self.entity.components and part is None:
            remote = [c for p in self.entity.federated.values() for c in p.components]
            known = sorted([*self.entity.components, *remote])
            raise ApplicationError(f"unknown component '{op.component}' (known: {known})", type="NotFound")
        if op.kind == "upgrade" and op.upgrade.values is not None and part is None \
                and self.entity.spec.component(op.component).chart is None:
            raise ApplicationError(f"values: component '{op.component}' runs an image; `values` are a chart "
                                   "component's", type="InvalidOperation")
        if op.kind == "move" and op.move.site == self.entity.components[op.component].site:
            raise ApplicationError(f"component '{op.component}' already runs at {op.move.site}",
                                   type="InvalidOperation")

    async def _dispatch(self, op: Operation, rid: str) -> str:
        base = f"{self.wid}/op/{rid}"
        part = self.entity.federated_part(op.component)
        if part is not None:
            return await forward.forward(self, op, part, base)
        if op.kind == "scale":
            return await scale.scale(self, op, base)
        if op.kind == "upgrade":
            return await upgrade.upgrade(self, op, base)
        if op.kind == "move":
            return await move.move(self, op, base)
        if op.kind == "repair":
            return await repair.repair(self, op.repair.findings, base)
        if op.kind == "cluster_upgrade":
            return await cluster_upgrade.upgrade_cluster(self, op, base)
        self.entity.spec = self.entity.spec.model_copy(update={k: getattr(op.update, k) for k in op.update.given()})
        return f"{' and '.join(op.update.given())} updated; later operations and the autopilot use them"

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
