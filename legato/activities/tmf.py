"""Activities of the TMF order and notification workflows: order records, calls to the services'
entity workflows (updates can only be sent by a client, so these are client-side activities),
and event delivery to the listeners."""

from __future__ import annotations

import asyncio
import time

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from legato.activities.base import ActivityGroup, heartbeating
from legato.client import NotRunning, Refused, ServiceClient
from legato.inventory import Inventory
from legato.inventory.tmf import TmfRecords
from legato.inventory.tmf_tables import ServiceOrderRow
from legato.maintenance import MaintenanceGate
from legato.model import ServiceSpec
from legato.model.status import TERMINAL_STATES
from legato.tmf.plans import CancelChange, OperateCall, OrderChange, OrderPlan, Outcome, ServiceSnapshot

POLL_SECONDS = 0.3
WINDOW_POLL_SECONDS = 5.0  # an operation waiting for its maintenance window is looked at less often
DELIVERY_WINDOW_SECONDS = 20.0  # one delivery activity watches the outbox this long, then returns


def _services(inventory: Inventory) -> ServiceClient:
    """The service workflows, through the worker's own Temporal client (upgrades and moves respect
    the maintenance windows)."""
    return ServiceClient(activity.client(), activity.info().task_queue, windows=MaintenanceGate(inventory))


class TmfActivities(ActivityGroup):
    def __init__(self, inventory: Inventory):
        super().__init__(inventory)
        self.tmf = TmfRecords(inventory)

    # --- order records -------------------------------------------------------------------------

    @activity.defn(name="tmf.accept_order")
    async def accept_order(self, plan: OrderPlan) -> None:
        row = ServiceOrderRow(id=plan.order_id, tenant=plan.tenant, state=plan.body["state"], body=plan.body)
        await self.record(self.tmf.order_accepted, row)

    @activity.defn(name="tmf.record_order")
    async def record_order(self, change: OrderChange) -> None:
        await self.record(self.tmf.order_changed, change)

    @activity.defn(name="tmf.record_cancel")
    async def record_cancel(self, change: CancelChange) -> None:
        await self.record(self.tmf.cancel_changed, change.cancel_id, change.state, change.fields)

    @activity.defn(name="tmf.assess_order")
    async def assess_order(self, plan: OrderPlan) -> list[str]:
        """Business validation when the order starts (which may be long after it was accepted)."""
        problems = []
        for item in plan.items:
            row = await self.record(self.inventory.service, item.service_id) if item.service_id else None
            if item.action == "add" and row is not None:
                problems.append(f"item {item.id}: service id '{item.service_id}' is already in use")
            elif item.action in ("modify", "delete") and (row is None or row.tenant != plan.tenant):
                problems.append(f"item {item.id}: service '{item.service_id}' not found")
            elif item.action == "modify" and row.state != "active":
                problems.append(f"item {item.id}: service '{item.service_id}' is {row.state}; modify needs it active")
            elif item.action == "delete" and row.state in TERMINAL_STATES:
                problems.append(f"item {item.id}: service '{item.service_id}' is already {row.state}")
        return problems

    @activity.defn(name="tmf.snapshot")
    async def snapshot(self, service_id: str) -> ServiceSnapshot:
        row = await self.record(self.inventory.service, service_id)
        components = await self.record(self.inventory.components, service_id)
        return ServiceSnapshot(spec=ServiceSpec.model_validate(row.spec), state=row.state,
                               sites={c.name: c.site for c in components})

    # --- the services' entity workflows ----------------------------------------------------------

    @activity.defn(name="tmf.wait_service")
    async def wait_service(self, service_id: str) -> Outcome:
        """Until a deployment is active, failed or terminated (the entity workflow stays running)."""
        async with heartbeating():
            while True:
                row = await self.record(self.inventory.service, service_id)
                if row is not None and (row.state == "active" or row.state in TERMINAL_STATES):
                    return Outcome(state=row.state, detail=row.error or "")
                await asyncio.sleep(POLL_SECONDS)

    @activity.defn(name="tmf.operate")
    async def operate(self, call: OperateCall) -> Outcome:
        """The `operate` update, idempotent on its request id: a retry joins or returns the first outcome.
        An upgrade or a move held for its maintenance window is followed in the operations log
        until it ends (the update answered `waiting`, and answers so again to a retry)."""
        async with heartbeating():
            try:
                record = await _services(self.inventory).operate(call.service_id, call.operation)
            except Refused as refused:
                return Outcome(state="busy" if refused.kind == "Busy" else "refused", detail=refused.message)
            except NotRunning:
                return Outcome(state="refused", detail=f"service '{call.service_id}' is not running")
            while record.state in ("waiting", "running"):
                await asyncio.sleep(POLL_SECONDS if record.state == "running" else WINDOW_POLL_SECONDS)
                row = await self.record(self.inventory.service_operation, record.request_id)
                if row is not None:
                    record.state, record.detail = row.state, row.detail
        return Outcome(state=record.state, detail=record.detail)

    @activity.defn(name="tmf.terminate_service")
    async def terminate_service(self, service_id: str) -> Outcome:
        """Tear a service down and wait until it is gone; a service already ending is waited for."""
        async with heartbeating():
            try:
                await _services(self.inventory).terminate(service_id)
            except Refused:
                pass  # already terminating, terminated or failed: wait for the end below
            except NotRunning:
                row = await self.record(self.inventory.service, service_id)
                return Outcome(state=row.state if row else "absent", detail=(row.error or "") if row else "")
            while True:
                row = await self.record(self.inventory.service, service_id)
                if row is not None and row.state in TERMINAL_STATES:
                    return Outcome(state=row.state, detail=row.error or "")
                await asyncio.sleep(POLL_SECONDS)

    # --- notifications ---------------------------------------------------------------------------

    @activity.defn(name="tmf.deliver_events")
    async def deliver_events(self, hub_id: str) -> bool:
        """POST the hub's undelivered events to its callback, oldest first, each marked delivered
        once the listener answered 2xx; a failure raises, and Temporal retries with backoff from
        the first undelivered event (so events stay in order). Returns False once the hub is gone."""
        deadline = time.monotonic() + DELIVERY_WINDOW_SECONDS
        async with heartbeating(), httpx.AsyncClient(timeout=10) as http:
            while time.monotonic() < deadline:
                hub = await self.record(self.tmf.hub, hub_id)
                if hub is None:
                    return False
                events = await self.record(self.tmf.undelivered, hub, event_types(hub.query))
                for event in events:
                    try:
                        resp = await http.post(hub.callback, json=event.body)
                    except httpx.HTTPError as err:
                        raise ApplicationError(f"listener unreachable: {type(err).__name__}",
                                               type="ListenerUnreachable") from None
                    if resp.status_code >= 300:
                        raise ApplicationError(f"listener answered {resp.status_code}", type="ListenerRefused")
                    await self.record(self.tmf.delivered, hub_id, event.seq)
                if not events:
                    await asyncio.sleep(POLL_SECONDS)
        return True


def event_types(query: str | None) -> set[str] | None:
    """The hub's `query`, as in `eventType=ServiceOrderStateChangeEvent,ServiceOrderCreateEvent`."""
    if not query:
        return None
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key.strip() == "eventType" and value.strip():
            return {v.strip() for v in value.split(",") if v.strip()}
    return None
