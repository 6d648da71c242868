"""Autopilot: run by the Temporal Schedule `autopilot`, beside `reconcile` and `rebalance`. Each
round reads telemetry into samples, plans at most one action per service (docs/design.md, "The
autopilot"), carries the actions out one at a time through each service's own day-2 operation —
one at a time per service, make-before-break, in its operations log as asked by `autopilot`, the
request id naming the measure that holds the reason and figures — or records them as proposals,
per the policy; then measures what earlier actions achieved."""

from __future__ import annotations

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from legato.activities.autopilot import AutopilotActivities
    from legato.activities.contracts import ApplyMeasure, AutopilotAction, AutopilotRound
    from legato.workflows.options import OPERATION


class AutopilotSummary(BaseModel):
    samples: int = 0
    actions: list[str] = Field(default_factory=list, description="each action: its measure id and reason")
    outcomes: dict[str, int] = Field(default_factory=dict)
    measured: int = 0


@workflow.defn(name="Autopilot")
class Autopilot:
    @workflow.run
    async def run(self, params: AutopilotRound) -> AutopilotSummary:
        # the round's actions are named by its run (a retried activity names the same measure)
        req = params.model_copy(update={"round_id": workflow.info().run_id.replace("-", "")[:12]})
        summary = AutopilotSummary()
        summary.samples = await workflow.execute_activity_method(AutopilotActivities.observe, req, **OPERATION)
        actions: list[AutopilotAction] = await workflow.execute_activity_method(AutopilotActivities.plan, req,
                                                                                **OPERATION)
        for action in actions:  # one at a time: each operation meets the continuum of its moment
            summary.actions.append(f"{action.id}: {action.reason}")
            state: str = await workflow.execute_activity_method(AutopilotActivities.act, action, **OPERATION)
            summary.outcomes[state] = summary.outcomes.get(state, 0) + 1
        summary.measured = await workflow.execute_activity_method(AutopilotActivities.measure, req, **OPERATION)
        return summary


@workflow.defn(name="ApplyAutopilotAction")
class ApplyAutopilotAction:
    """One approved proposal of the autopilot carried out, so an approval survives an API restart."""

    @workflow.run
    async def run(self, req: ApplyMeasure) -> str:
        return await workflow.execute_activity_method(AutopilotActivities.apply, req, **OPERATION)


def apply_workflow_id(measure_id: str) -> str:
    return f"apply-{measure_id}"
