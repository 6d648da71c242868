"""Rebalance and ApplyProposal on doubles: in `approve` mode proposals are only recorded; in `auto`
mode each is carried out in turn and the outcomes counted; ApplyProposal carries out one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowFailureError

from legato.activities.contracts import ExecuteProposal
from legato.activities.rebalance import RebalanceActivities
from legato.model.proposals import Proposal
from legato.workflows.rebalance import ApplyProposal, Rebalance, RebalanceParams, RebalanceSummary
from tests.unit.workflows.doubles import Doubles, answer, fail, unique, worker


def proposal(pid: str, state: str = "pending") -> Proposal:
    return Proposal(id=pid, state=state, created_at=datetime.now(UTC), service_id=f"svc-{pid}", tenant="alpha",
                    component="web", from_site="edge-1", to_site="edge-2", current_score=1.0, new_score=0.5,
                    gain=0.5, reason="cheaper")


def outcomes(**state_of: str):
    """execute: the proposal, in the state this test gives its id."""
    return lambda req: proposal(req.proposal_id, state_of[req.proposal_id])


@pytest.fixture
def doubles() -> Doubles:
    return Doubles().on(RebalanceActivities.scan, answer([proposal("p1"), proposal("p2")]))


async def rebalance(client, doubles: Doubles, params: RebalanceParams) -> RebalanceSummary:
    async with worker(client, doubles, Rebalance) as tq:
        return await client.execute_workflow(Rebalance.run, params, id=unique("rebalance"), task_queue=tq)


async def test_approve_mode_only_records_proposals(client, doubles):
    summary = await rebalance(client, doubles, RebalanceParams(mode="approve", min_gain=0.25))

    assert summary == RebalanceSummary(mode="approve", proposals=2, outcomes={})
    assert doubles.args(RebalanceActivities.scan)[0].min_gain == 0.25
    assert doubles.count(RebalanceActivities.execute) == 0


async def test_auto_mode_carries_out_each_proposal_in_turn(client, doubles):
    doubles.on(RebalanceActivities.execute, outcomes(p1="done", p2="failed"))
    summary = await rebalance(client, doubles, RebalanceParams(mode="auto"))

    assert summary == RebalanceSummary(mode="auto", proposals=2, outcomes={"done": 1, "failed": 1})
    assert doubles.args(RebalanceActivities.execute) == [ExecuteProposal(proposal_id="p1"),
                                                         ExecuteProposal(proposal_id="p2")]


async def test_auto_mode_stops_at_a_proposal_that_cannot_be_carried_out(client, doubles):
    doubles.on(RebalanceActivities.execute, fail("NotFound", "proposal p1 not found"))
    with pytest.raises(WorkflowFailureError):
        await rebalance(client, doubles, RebalanceParams(mode="auto"))

    assert [e.proposal_id for e in doubles.args(RebalanceActivities.execute)] == ["p1"]  # not retried, not skipped


async def test_apply_proposal_carries_out_the_approved_proposal(client, doubles):
    doubles.on(RebalanceActivities.execute, outcomes(p7="done"))
    async with worker(client, doubles, ApplyProposal) as tq:
        done = await client.execute_workflow(ApplyProposal.run, ExecuteProposal(proposal_id="p7", by="operator"),
                                             id=unique("proposal"), task_queue=tq)

    assert done.id == "p7" and done.state == "done"
    assert doubles.args(RebalanceActivities.execute) == [ExecuteProposal(proposal_id="p7", by="operator")]


async def test_apply_proposal_fails_for_a_proposal_that_is_gone(client, doubles):
    doubles.on(RebalanceActivities.execute, fail("NotFound", "proposal p7 not found"))
    async with worker(client, doubles, ApplyProposal) as tq:
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(ApplyProposal.run, ExecuteProposal(proposal_id="p7"),
                                          id=unique("proposal"), task_queue=tq)

    assert failed.value.cause.cause.type == "NotFound"
    assert doubles.count(RebalanceActivities.execute) == 1
