"""An operator's decision on a rebalancing proposal. An approval starts ApplyProposal (a workflow:
the move survives an API restart), which runs the move through the service's own workflow with the
proposal id as its idempotency key."""

from __future__ import annotations

import asyncio

from legato.activities.contracts import ExecuteProposal
from legato.api.auth import Caller
from legato.api.dependencies import Temporal
from legato.api.service_layer.approvals import run_once
from legato.api.service_layer.outcomes import Conflict, NotFound
from legato.inventory import Inventory
from legato.model.proposals import Proposal
from legato.workflows.rebalance import ApplyProposal, proposal_workflow_id


async def visible_proposal(inventory: Inventory, caller: Caller, proposal_id: str) -> Proposal:
    found = await asyncio.to_thread(inventory.proposal, proposal_id)
    if found is None or not caller.sees(found.tenant):
        raise NotFound(f"proposal '{proposal_id}' not found")
    return found


async def approve(inventory: Inventory, temporal: Temporal, caller: Caller, proposal_id: str,
                  wait: float | None) -> tuple[Proposal, bool]:
    """Carry the move out (approving again is harmless: the same workflow, the same move). The
    proposal, and whether the move is over: waited for `wait` seconds (None: not waited for)."""
    found = await visible_proposal(inventory, caller, proposal_id)
    if found.state not in ("pending", "approved"):
        raise Conflict(f"proposal '{proposal_id}' is {found.state}: {found.detail}".rstrip(": "))
    await asyncio.to_thread(inventory.proposal_decided, proposal_id, "approved", caller.tenant, only_from=("pending",))
    over = await run_once(temporal, ApplyProposal.run, ExecuteProposal(proposal_id=proposal_id, by=caller.tenant),
                          proposal_workflow_id(proposal_id), wait)
    return await visible_proposal(inventory, caller, proposal_id), over


async def reject(inventory: Inventory, caller: Caller, proposal_id: str) -> Proposal:
    await visible_proposal(inventory, caller, proposal_id)
    done = await asyncio.to_thread(inventory.proposal_decided, proposal_id, "rejected", caller.tenant,
                                   "rejected by an operator", ("pending",))
    if done is None:
        found = await visible_proposal(inventory, caller, proposal_id)
        raise Conflict(f"proposal '{proposal_id}' is {found.state}; only a pending one can be rejected")
    return done
