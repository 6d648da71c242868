"""ServiceOrder (`order-<id>`): a TMF641 order driven through Legato's own workflows.

acknowledged -> (requestedStartDate) -> business validation (rejected) -> inProgress, its items run
(services apart in parallel, one service's items in order): `add` starts the DeployService entity
(a child that outlives the order) and waits until it is active or failed; `modify` sends the
service's `operate` updates (idempotent on request ids derived from the order); `delete` its
`terminate` update. An item blocked by another operation on its service is `held` until that ends.
The order ends completed, failed or partial. A cancellation (assessingCancellation ->
pendingCancellation -> cancelled) stops the items and runs their compensations: an added service
is terminated, a modification is undone by the inverse operations.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from legato.activities.tmf import TmfActivities
    from legato.model.operations import Operation
    from legato.tmf.characteristics import inverse
    from legato.tmf.plans import (
        CancelChange,
        CancelRequest,
        ItemPlan,
        Note,
        OperateCall,
        OrderChange,
        OrderPlan,
        Outcome,
    )
    from legato.tmf.render import iso
    from legato.tmf.states import FINAL_ORDER_STATES, OrderState, TaskState, final_order_state
    from legato.workflows.contracts import SERVICE_ID, STATE, TENANT, DeployRequest, service_workflow_id
    from legato.workflows.deploy_service import DeployService
    from legato.workflows.options import STEP, UNDO

# Waiting on a service (a deployment, a move, a teardown) may take long; a dead worker is seen by heartbeat.
SERVICE_CALL = dict(
    start_to_close_timeout=timedelta(hours=6),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)),
)
HELD_RETRY_MAX_SECONDS = 30.0


def order_workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


@workflow.defn(name="ServiceOrder")
class ServiceOrderWorkflow:
    @workflow.init
    def __init__(self, plan: OrderPlan) -> None:
        self.plan = plan
        self.state = OrderState.acknowledged
        self.items = {item.id: OrderState.acknowledged for item in plan.items}
        self.notes: list[Note] = []
        self.version = 0
        self.start_at = plan.requested_start
        self.rescheduled = False
        self.cancel_request: CancelRequest | None = None
        self.begun: dict[str, list] = {}  # item id -> what was started (for compensation)

    # --- handlers -------------------------------------------------------------------------------

    @workflow.query(name="state")
    def get_state(self) -> dict:
        return {"state": str(self.state), "items": {k: str(v) for k, v in self.items.items()}}

    @workflow.signal(name="reschedule")
    def reschedule(self, start_at: str | None) -> None:
        """A PATCHed requestedStartDate, while the order waits for it."""
        self.start_at = datetime.fromisoformat(start_at) if start_at else None
        self.rescheduled = True

    @workflow.update(name="cancel")
    async def cancel(self, request: CancelRequest) -> str:
        self.cancel_request = request
        await workflow.wait_condition(lambda: self.state in FINAL_ORDER_STATES)
        return str(self.state)

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if self.state in FINAL_ORDER_STATES:
            raise ApplicationError(f"the order is already {self.state}", type="InvalidState")
        if self.cancel_request is not None:
            raise ApplicationError("the order is already being cancelled", type="InvalidState")

    # --- run ------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, plan: OrderPlan) -> str:
        await self._activity(TmfActivities.accept_order, plan)
        if not await self._wait_for_start():
            await self._cancel_directly()
            return str(self.state)
        problems = await self._activity(TmfActivities.assess_order, plan)
        if problems:
            self.notes += [Note(text=p, date=self._now()) for p in problems]
            self.items = dict.fromkeys(self.items, OrderState.rejected)
            await self._set(OrderState.rejected)
            return str(self.state)
        await self._set(OrderState.in_progress, startDate=self._now())

        groups: dict[str, list[ItemPlan]] = {}
        for item in plan.items:
            groups.setdefault(item.service_id or f"#{item.id}", []).append(item)
        tasks = [asyncio.create_task(self._run_items(items)) for items in groups.values()]
        await workflow.wait_condition(lambda: all(t.done() for t in tasks) or self.cancel_request is not None)
        if self.cancel_request is not None:
            await self._cancel_in_progress(tasks)
        else:
            await self._set(final_order_state(list(self.items.values())), completionDate=self._now())
        return str(self.state)

    async def _wait_for_start(self) -> bool:
        """Until requestedStartDate (acknowledged meanwhile); False if cancelled first."""
        while self.start_at is not None and self.start_at > workflow.now() and self.cancel_request is None:
            self.rescheduled = False
            try:
                await workflow.wait_condition(lambda: self.rescheduled or self.cancel_request is not None,
                                              timeout=(self.start_at - workflow.now()).total_seconds())
            except TimeoutError:
                break
        return self.cancel_request is None

    async def _run_items(self, items: list[ItemPlan]) -> None:
        for item in items:
            await self._run_item(item)

    async def _run_item(self, item: ItemPlan) -> None:
        await self._set_item(item.id, OrderState.in_progress)
        self.begun[item.id] = []
        if item.action == "noChange":
            outcome = Outcome(state="succeeded")
        elif item.action == "add":
            outcome = await self._add(item)
        elif item.action == "delete":
            self.begun[item.id].append("delete")
            outcome = await self._activity(TmfActivities.terminate_service, item.service_id,
                                           **SERVICE_CALL)
            outcome.state = "succeeded" if outcome.state in ("terminated", "absent") else outcome.state
        else:
            outcome = await self._modify(item)
        if outcome.state == "succeeded":
            await self._set_item(item.id, OrderState.completed)
        else:
            self.notes.append(Note(text=f"item {item.id} ({item.action}) {outcome.state}: {outcome.detail}",
                                   date=self._now()))
            await self._set_item(item.id, OrderState.failed)

    async def _add(self, item: ItemPlan) -> Outcome:
        self.begun[item.id].append("add")
        spec, indexed = item.spec, self.plan.index_search_attributes
        try:
            await workflow.start_child_workflow(
                DeployService.run, DeployRequest(spec=spec, index_search_attributes=indexed),
                id=service_workflow_id(item.service_id), memo={"tenant": spec.tenant, "name": spec.name},
                parent_close_policy=ParentClosePolicy.ABANDON,
                cancellation_type=ChildWorkflowCancellationType.ABANDON,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(SERVICE_ID, spec.id), SearchAttributePair(TENANT, spec.tenant),
                    SearchAttributePair(STATE, "accepted")]) if indexed else None,
            )
        except workflow.ChildWorkflowError as err:
            return Outcome(state="failed", detail=str(err))
        outcome = await self._activity(TmfActivities.wait_service, item.service_id, **SERVICE_CALL)
        return Outcome(state="succeeded" if outcome.state == "active" else "failed", detail=outcome.detail)

    async def _modify(self, item: ItemPlan) -> Outcome:
        before = await self._activity(TmfActivities.snapshot, item.service_id)
        for op in item.operations:
            self.begun[item.id].append((op, before))
            outcome = await self._operate(item, op)
            if outcome.state != "succeeded":
                return outcome
        return Outcome(state="succeeded")

    async def _operate(self, item: ItemPlan, op: Operation) -> Outcome:
        """One operation; while another runs on the service, the item is held and retries."""
        wait = 1.0
        while True:
            outcome = await self._activity(TmfActivities.operate, OperateCall(service_id=item.service_id, operation=op),
                                 **SERVICE_CALL)
            if outcome.state != "busy":
                if self.items[item.id] == OrderState.held:
                    await self._set_item(item.id, OrderState.in_progress)
                return outcome
            if self.items[item.id] != OrderState.held:
                self.notes.append(Note(text=f"item {item.id} held: {outcome.detail}", date=self._now()))
                await self._set_item(item.id, OrderState.held)
            await workflow.sleep(wait)
            wait = min(wait * 2, HELD_RETRY_MAX_SECONDS)

    # --- cancellation -----------------------------------------------------------------------------

    async def _cancel_directly(self) -> None:
        """Cancelled before it started: nothing to undo."""
        await self._record_cancel(TaskState.in_progress)
        self.items = dict.fromkeys(self.items, OrderState.cancelled)
        await self._set(OrderState.cancelled, **self._cancel_fields())
        await self._record_cancel(TaskState.done, effectiveCancellationDate=self._now())

    async def _cancel_in_progress(self, tasks: list[asyncio.Task]) -> None:
        await self._record_cancel(TaskState.in_progress)
        await self._set(OrderState.assessing_cancellation)
        await self._set(OrderState.pending_cancellation)  # Legato can always unwind what it started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for item in reversed(self.plan.items):
            if await self._compensate(item):
                self.items[item.id] = OrderState.cancelled
        await self._set(OrderState.cancelled, **self._cancel_fields())
        await self._record_cancel(TaskState.done, effectiveCancellationDate=self._now())

    async def _compensate(self, item: ItemPlan) -> bool:
        """Undo what the item did; False when it cannot be undone (a service already removed)."""
        begun = self.begun.get(item.id, [])
        if "delete" in begun:
            if self.items[item.id] == OrderState.completed:
                self.notes.append(Note(text=f"item {item.id}: the service was removed before the cancellation "
                                            "and cannot be restored", date=self._now()))
                return False
            return True
        if "add" in begun:
            await self._activity(TmfActivities.terminate_service, item.service_id, **SERVICE_CALL)
        for op, before in reversed([b for b in begun if isinstance(b, tuple)]):
            # The same request id again: returns the outcome of the first (joining it if it still runs).
            done = await self._activity(TmfActivities.operate, OperateCall(service_id=item.service_id, operation=op),
                                 **SERVICE_CALL)
            if done.state == "succeeded":
                undo = inverse(op, before.spec, before.sites)
                await self._activity(TmfActivities.operate, OperateCall(service_id=item.service_id, operation=undo),
                                 **SERVICE_CALL)
        return True

    def _cancel_fields(self) -> dict:
        fields = {"cancellationDate": self._now()}
        if self.cancel_request and self.cancel_request.reason:
            fields["cancellationReason"] = self.cancel_request.reason
        return fields

    async def _record_cancel(self, state: TaskState, **fields) -> None:
        if self.cancel_request is not None:
            await workflow.execute_activity_method(TmfActivities.record_cancel, CancelChange(
                cancel_id=self.cancel_request.cancel_id, state=state, fields=fields), **UNDO)

    # --- records ----------------------------------------------------------------------------------

    def _now(self) -> str:
        return iso(workflow.now())

    async def _set_item(self, item_id: str, state: OrderState) -> None:
        self.items[item_id] = state
        if self.state in (OrderState.in_progress, OrderState.held):
            held = any(s == OrderState.held for s in self.items.values())
            await self._set(OrderState.held if held else OrderState.in_progress)
        else:
            await self._set(self.state)

    async def _set(self, state: OrderState, **fields) -> None:
        self.state = state
        self.version += 1
        if self.plan.index_search_attributes:
            workflow.upsert_search_attributes([STATE.value_set(str(state))])
        await workflow.execute_activity_method(TmfActivities.record_order, OrderChange(
            order_id=self.plan.order_id, version=self.version, state=str(state),
            items={k: str(v) for k, v in self.items.items()}, notes=self.notes, fields=fields), **UNDO)

    async def _activity(self, activity, arg, result_type=None, **options):
        return await workflow.execute_activity_method(activity, arg, **(options or STEP))
