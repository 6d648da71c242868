"""Per-step progress of a workflow, served by its `status` query."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from legato.model import ServiceState, ServiceStatus, Step, StepState


# A step whose detail starts with this runs as a child workflow; the API shows its steps live.
CHILD_PREFIX = "child workflow "


def error_text(err: BaseException) -> str:
    """The innermost cause's message: what an operator needs, not the wrapping layers."""
    while isinstance(err, (ActivityError, ChildWorkflowError)) and err.cause is not None:
        err = err.cause
    if isinstance(err, ApplicationError) and err.type and err.type != "ServiceFailed":
        return f"{err.type}: {err.message}"
    return str(err)


def refused_resources(err: BaseException) -> list[str] | None:
    """What a backend refused for capacity (`host:<id>`, `cluster:<id>`, `link:<a>|<b>`), found
    anywhere down the cause chain (an activity, or a child workflow's activity); None if the
    failure is not a capacity refusal naming what refused."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ApplicationError) and seen.type == "CapacityExhausted":
            named = [str(d) for d in seen.details if isinstance(d, str) and ":" in d]
            return named or None
        seen = getattr(seen, "cause", None) or seen.__cause__
    return None


class Progress:
    def __init__(self, status: ServiceStatus, prefix: str = ""):
        self.status = status
        self.prefix = prefix  # a child's steps stay apart from the parent's same-named ones

    def _step(self, name: str) -> Step:
        name = self.prefix + name
        for step in self.status.steps:
            if step.name == name:
                return step
        step = Step(name=name, state=StepState.running, started_at=workflow.now())
        self.status.steps.append(step)
        return step

    def state(self, state: ServiceState) -> None:
        self.status.state = state

    def begin(self, name: str, detail: str = "") -> None:
        step = self._step(name)
        step.state, step.detail, step.started_at, step.ended_at = StepState.running, detail, workflow.now(), None

    def done(self, name: str, detail: str | None = None) -> None:
        step = self._step(name)
        step.state, step.ended_at = StepState.done, workflow.now()
        if detail is not None:
            step.detail = detail
        _record_step(step, "done")

    def failed(self, name: str, detail: str) -> None:
        step = self._step(name)
        step.state, step.detail, step.ended_at = StepState.failed, detail, workflow.now()
        _record_step(step, "failed")

    def compensating(self, name: str) -> None:
        self._step(name).state = StepState.compensating

    def compensated(self, name: str) -> None:
        step = self._step(name)
        step.state, step.ended_at = StepState.compensated, workflow.now()

    async def track(self, name: str, detail: str, work):
        """Await `work` as one visible step: running, then done or failed (with the cause)."""
        self.begin(name, detail)
        try:
            result = await work
        except Exception as err:
            self.failed(name, error_text(err))
            raise
        self.done(name)
        return result


def _record_step(step: Step, outcome: str) -> None:
    """Step durations for Prometheus (Temporal's workflow meter skips replays: no double counts)."""
    if step.started_at is None or step.ended_at is None:
        return
    kind = step.name.split("@")[0].split(" [")[0].split(": ")[-1]
    workflow.metric_meter().create_histogram_timedelta(
        "legato_step_duration", "Duration of workflow steps", "s"
    ).record(step.ended_at - step.started_at, {"step": kind, "outcome": outcome})
