"""What a day-2 operation may use of its service's entity workflow, and how one ends short.

The entity workflow (DeployService) is the only implementation; naming what operations touch keeps
them from reaching into the rest of it (its deployment, its termination, its search attributes)."""

from __future__ import annotations

from typing import Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from legato.model import ServiceSpec, ServiceStatus
    from legato.model.operations import Operation
    from legato.workflows.entity import ComponentState, ServiceEntity
    from legato.workflows.progress import Progress
    from legato.workflows.saga import Saga
    from legato.workflows.steps import Ctx


class ServiceContext(Protocol):
    """The service as an operation sees it: what is deployed (`entity`, whose `undo` is `saga`),
    where steps are shown (`progress`), and a step context for its activities (`ctx`)."""

    entity: ServiceEntity
    saga: Saga
    progress: Progress
    wid: str

    @property
    def status(self) -> ServiceStatus: ...

    @property
    def poll_seconds(self) -> float:
        """How often readiness is polled (tests shorten it)."""
        ...

    def ctx(self, spec: ServiceSpec | None = None, progress_deadline: float | None = None) -> Ctx: ...

    def refresh_endpoints(self) -> None:
        """Endpoints in the status follow where the components run now."""
        ...


class Refused(Exception):
    """The operation cannot be done and nothing was changed (e.g. no site can take a moved component)."""


class RolledBack(Exception):
    """The operation was undone on purpose (a canary failed its gate); the service is as before."""


def op_ctx(svc: ServiceContext, op: Operation, saga: Saga) -> Ctx:
    """A context of its own for one operation: its undo list, and its progress deadline."""
    ctx = svc.ctx(progress_deadline=op.request.progress_deadline_seconds)
    ctx.saga = saga
    return ctx


def on_workload(ctx: Ctx, state: ComponentState, step: str, op_id: str) -> dict:
    """What every change to a component's workload says (a `WorkloadOp`): which workload, for which
    service, as which step, under which idempotency key."""
    return dict(
        op_id=op_id,
        service_id=ctx.sid,
        step=f"{step}@{state.name}",
        cluster_id=state.cluster,
        workload_id=state.workload_id,
        component=state.name,
    )
