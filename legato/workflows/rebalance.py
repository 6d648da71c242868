"""Rebalance: run by the Temporal Schedule `rebalance`. Re-optimises running services against the
current prices, carbon and load; in `approve` mode it only records proposals for an operator, in
`auto` mode it carries them out, one at a time, through each service's own move (make-before-break).
ApplyProposal carries out one approved proposal, so an approval survives an API restart."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from legato.activities.contracts import ExecuteProposal, RebalanceScan
    from legato.activities.rebalance import RebalanceActivities
    from legato.model.proposals import Proposal
    from legato.workflows.options import OPERATION


class RebalanceParams(BaseModel):
    mode: Literal["approve", "auto"] = "approve"
    min_gain: float = Field(default=0.1, ge=0, le=1)


class RebalanceSummary(BaseModel):
    mode: str
    proposals: int
    outcomes: dict[str, int] = Field(default_factory=dict)


@workflow.defn(name="Rebalance")
class Rebalance:
    @workflow.run
    async def run(self, params: RebalanceParams) -> RebalanceSummary:
        proposals: list[Proposal] = await workflow.execute_activity_method(
            RebalanceActivities.scan, RebalanceScan(min_gain=params.min_gain),
            **OPERATION)  # long on a large continuum; it heartbeats
        summary = RebalanceSummary(mode=params.mode, proposals=len(proposals))
        if params.mode == "auto":
            for p in proposals:  # one at a time: each move is checked against the continuum of its moment
                done: Proposal = await workflow.execute_activity_method(
                    RebalanceActivities.execute, ExecuteProposal(proposal_id=p.id), **OPERATION)
                summary.outcomes[done.state] = summary.outcomes.get(done.state, 0) + 1
        return summary


@workflow.defn(name="ApplyProposal")
class ApplyProposal:
    @workflow.run
    async def run(self, req: ExecuteProposal) -> Proposal:
        return await workflow.execute_activity_method(RebalanceActivities.execute, req,
                                                      **OPERATION)


def proposal_workflow_id(proposal_id: str) -> str:
    return f"proposal-{proposal_id}"
