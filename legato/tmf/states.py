"""TMF state vocabularies (v4.0.0) and how Legato's states map onto them."""

from __future__ import annotations

from enum import StrEnum

from legato.model.status import ServiceState


class OrderState(StrEnum):
    """ServiceOrderStateType and ServiceOrderItemStateType (the same eleven values)."""

    acknowledged = "acknowledged"
    rejected = "rejected"
    pending = "pending"
    held = "held"
    in_progress = "inProgress"
    cancelled = "cancelled"
    completed = "completed"
    failed = "failed"
    partial = "partial"
    assessing_cancellation = "assessingCancellation"
    pending_cancellation = "pendingCancellation"


FINAL_ORDER_STATES = frozenset({OrderState.rejected, OrderState.cancelled, OrderState.completed,
                                OrderState.failed, OrderState.partial})


class TaskState(StrEnum):
    """TaskStateType: the state of a CancelServiceOrder."""

    accepted = "accepted"
    in_progress = "inProgress"
    done = "done"
    terminated_with_error = "terminatedWithError"


# TMF638 ServiceStateType: feasibilityChecked, designed, reserved, inactive, active, terminated.
SERVICE_STATE = {
    ServiceState.accepted: "designed",
    ServiceState.scheduled: "designed",
    ServiceState.placing: "designed",
    ServiceState.provisioning: "reserved",
    ServiceState.deploying: "reserved",
    ServiceState.connecting: "reserved",
    ServiceState.active: "active",
    ServiceState.rolling_back: "inactive",
    ServiceState.terminating: "inactive",
    ServiceState.failed: "terminated",
    ServiceState.terminated: "terminated",
}


def service_state(legato_state: str) -> str:
    return SERVICE_STATE.get(ServiceState(legato_state), "designed")


def final_order_state(item_states: list[str]) -> OrderState:
    """completed if every item completed, failed if none did, partial otherwise."""
    done = sum(1 for s in item_states if s == OrderState.completed)
    if done == len(item_states):
        return OrderState.completed
    return OrderState.failed if done == 0 else OrderState.partial
