"""/v1/proposals: the rebalancer's proposed moves, and an operator's approval or rejection.

An approval starts ApplyProposal (a workflow: the move survives an API restart), which runs the
move through the service's own workflow with the proposal id as its idempotency key."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from legato.activities.contracts import ExecuteProposal
from legato.api.auth import Caller, current_caller
from legato.api.schemas import Page
from legato.api.services import temporal
from legato.model.proposals import Proposal, ProposalState
from legato.workflows.rebalance import ApplyProposal, proposal_workflow_id

router = APIRouter(prefix="/v1/proposals", tags=["rebalancing"])


async def _visible(request: Request, proposal_id: str, caller: Caller) -> Proposal:
    found = await asyncio.to_thread(request.app.state.inventory.proposal, proposal_id)
    if found is None or not caller.sees(found.tenant):
        raise HTTPException(404, f"proposal '{proposal_id}' not found")
    return found


@router.get("", response_model=Page)
async def list_proposals(request: Request, response: Response, caller: Caller = Depends(current_caller),
                         state: ProposalState | None = None, offset: int = Query(0, ge=0),
                         limit: int = Query(100, ge=1, le=1000)) -> Page:
    tenant = None if caller.admin else caller.tenant
    items, total = await asyncio.to_thread(request.app.state.inventory.proposals, tenant, state, offset, limit)
    response.headers["X-Total-Count"] = str(total)
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.get("/{proposal_id}", response_model=Proposal)
async def get_proposal(proposal_id: str, request: Request, caller: Caller = Depends(current_caller)) -> Proposal:
    return await _visible(request, proposal_id, caller)


@router.post("/{proposal_id}/approve", response_model=Proposal)
async def approve(proposal_id: str, request: Request, response: Response, caller: Caller = Depends(current_caller),
                  wait: bool = Query(True, description="return when the move ends (else 202 at once)"),
                  timeout: float = Query(300.0, ge=0, le=3600)) -> Proposal:
    """Carry the move out. Approving again is harmless: the same workflow, the same move."""
    found = await _visible(request, proposal_id, caller)
    if found.state not in ("pending", "approved"):
        raise HTTPException(409, f"proposal '{proposal_id}' is {found.state}: {found.detail}".rstrip(": "))
    await asyncio.to_thread(request.app.state.inventory.proposal_decided, proposal_id, "approved", caller.tenant,
                            only_from=("pending",))
    client = await temporal(request)
    settings = request.app.state.settings
    wid = proposal_workflow_id(proposal_id)
    try:
        handle: WorkflowHandle = await client.start_workflow(
            ApplyProposal.run, ExecuteProposal(proposal_id=proposal_id, by=caller.tenant), id=wid,
            task_queue=settings.task_queue, result_type=Proposal,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(wid, result_type=Proposal)
    response.headers["Location"] = f"/v1/proposals/{proposal_id}"
    if wait and timeout > 0:
        try:
            return await asyncio.wait_for(handle.result(), timeout)
        except TimeoutError:
            pass
    response.status_code = 202
    return await _visible(request, proposal_id, caller)


@router.post("/{proposal_id}/reject", response_model=Proposal)
async def reject(proposal_id: str, request: Request, caller: Caller = Depends(current_caller)) -> Proposal:
    await _visible(request, proposal_id, caller)
    done = await asyncio.to_thread(request.app.state.inventory.proposal_decided, proposal_id, "rejected",
                                   caller.tenant, "rejected by an operator", ("pending",))
    if done is None:
        found = await _visible(request, proposal_id, caller)
        raise HTTPException(409, f"proposal '{proposal_id}' is {found.state}; only a pending one can be rejected")
    return done
