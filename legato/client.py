"""The one way to start, operate, terminate and query a service's entity workflow (`service-<id>`).

The API, the TMF order activities, federation and rebalancing all drive services through here, so
workflow ids, search attributes, the update id of an operation and what each refusal means are
decided once. Calls name the workflow, its updates and its query by reference (`DeployService.run`,
`DeployService.operate`, ...), never by a string, so a reader or a checker can follow them."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from legato.maintenance import DISRUPTIVE, NoCommonWindow
from legato.model import ServiceSpec, ServiceStatus
from legato.model.operations import Operation, OperationRecord, RepairRequest, WindowWait, asked, params_of
from legato.workflows.contracts import SERVICE_ID, STATE, TENANT, DeployRequest, service_workflow_id
from legato.workflows.deploy_service import DeployService

__all__ = ["AlreadyExists", "NotRunning", "Refused", "ServiceClient", "service_workflow_id", "update_id"]

# Temporal cannot be reached (restarting, overloaded): the caller must hear "retry", never a refusal.
TRANSIENT = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED})


def unreachable(err: BaseException) -> bool:
    return isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError) or (
        isinstance(err, RPCError) and err.status in TRANSIENT)


class AlreadyExists(Exception):
    """The service id is in use."""


class NotRunning(Exception):
    """The service's workflow is gone (terminated, failed) or never existed."""


class Refused(Exception):
    """The workflow's validator refused: `kind` is Busy, InvalidState, NotFound, InvalidOperation,
    IdempotencyMismatch or OutsideMaintenanceWindow (what a client does about it differs: retry
    later, give up, fix the request)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass
class Running:
    """An operation accepted and still running when the caller stopped waiting."""

    request_id: str


def update_id(op: Operation) -> str:
    """The request id and a digest of what is asked: Temporal answers a repeated update id with
    the first outcome without asking the workflow, so the same key with another body must reach
    the workflow's validator, which refuses it (IdempotencyMismatch) instead of answering the first."""
    what = json.dumps([op.kind, op.component, asked(params_of(op))], sort_keys=True)
    return f"{op.request.request_id}#{hashlib.sha256(what.encode()).hexdigest()[:12]}"


def _refusal(err: WorkflowUpdateFailedError) -> Refused:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return Refused(cause.type or "", cause.message)
    return Refused("", str(cause))


# Whether an operation must wait for a maintenance window, and until when (legato.maintenance).
Windows = Callable[[str, Operation], Awaitable[WindowWait | None]]


class ServiceClient:
    """`windows`: the maintenance windows an upgrade or a move must respect (MaintenanceGate over
    the inventory); None where there are none to respect (a workflow's own tests)."""

    def __init__(self, client: Client, task_queue: str, indexed: bool = True, windows: Windows | None = None) -> None:
        self.client, self.task_queue, self.indexed, self.windows = client, task_queue, indexed, windows

    def handle(self, service_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(service_workflow_id(service_id))

    async def start(self, spec: ServiceSpec) -> str:
        """Start the service's DeployService; its workflow id. AlreadyExists if the id is in use."""
        workflow_id = service_workflow_id(spec.id)
        try:
            await self.client.start_workflow(
                DeployService.run, DeployRequest(spec=spec, index_search_attributes=self.indexed),
                id=workflow_id, task_queue=self.task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                memo={"tenant": spec.tenant, "name": spec.name},
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(SERVICE_ID, spec.id), SearchAttributePair(TENANT, spec.tenant),
                    SearchAttributePair(STATE, "accepted"),
                ]) if self.indexed else None,
            )
        except WorkflowAlreadyStartedError:
            raise AlreadyExists(f"service id '{spec.id}' is already in use") from None
        return workflow_id

    async def operate(self, service_id: str, op: Operation, wait: float | None = None) -> OperationRecord | Running:
        """Send a day-2 operation; its record once it ends, or Running if it has not within `wait`
        seconds (None: until it ends; 0: at once). Refused or NotRunning when it cannot run.

        A disruptive operation outside the maintenance windows that apply carries when they next
        open together (`op.window`): the workflow holds it until then (its record says `waiting`),
        or refuses it if the request says `outside_window: refuse` (OutsideMaintenanceWindow). The
        workflow decides, so a retry of a request it already took is answered as the first was."""
        if self.windows is not None and op.window is None and op.kind in DISRUPTIVE:
            try:
                found = await self.windows(service_id, op)
            except NoCommonWindow as never:
                raise Refused("OutsideMaintenanceWindow", str(never)) from None
            if found is not None:
                op = op.model_copy(update={"window": found})
        handle = self.handle(service_id)
        try:
            update = await handle.start_update(DeployService.operate, op, id=update_id(op),
                                               result_type=OperationRecord,
                                               wait_for_stage=WorkflowUpdateStage.ACCEPTED)
            if wait is not None and wait <= 0:
                return Running(op.request.request_id)
            # Accepted: from here on, not hearing the outcome in time (the wait's own timeout, or
            # the engine slow to answer) is "still running", never an error.
            try:
                return await asyncio.wait_for(update.result(), wait)
            except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
                return Running(op.request.request_id)
            except RPCError as err:
                if not unreachable(err):
                    raise
                return Running(op.request.request_id)
        except WorkflowUpdateFailedError as err:
            raise _refusal(err) from None
        except RPCError as err:
            if unreachable(err):
                raise
            raise NotRunning(f"service '{service_id}' is not running: {err.message}") from None

    async def repair(self, service_id: str, request: RepairRequest) -> None:
        """Ask the service to put back what the findings say is missing (a signal: it runs when
        no operation is running). NotRunning when its workflow is gone."""
        try:
            await self.handle(service_id).signal(DeployService.repair, request)
        except RPCError as err:
            if unreachable(err):
                raise
            raise NotRunning(f"service '{service_id}' is not running: {err.message}") from None

    async def terminate(self, service_id: str) -> str:
        """Ask the service to tear everything down; its workflow id. Refused when it is already
        ending; NotRunning when its workflow is gone."""
        handle = self.handle(service_id)
        try:
            await handle.start_update(DeployService.terminate, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        except WorkflowUpdateFailedError as err:
            raise _refusal(err) from None
        except RPCError as err:
            if unreachable(err):
                raise
            if err.status == RPCStatusCode.NOT_FOUND:
                raise NotRunning(f"service '{service_id}' is not running") from None
            raise NotRunning(f"service '{service_id}' cannot be removed now: {err.message}") from None
        return handle.id

    async def status(self, workflow_id: str, timeout: float = 5) -> ServiceStatus | None:
        """The workflow's live progress (a service's or a child's: both answer the same query);
        None when it cannot be asked (worker busy, workflow gone): progress is best effort."""
        try:
            handle = self.client.get_workflow_handle(workflow_id)
            return await asyncio.wait_for(handle.query(DeployService.get_status), timeout=timeout)
        except Exception:  # noqa: BLE001
            return None
