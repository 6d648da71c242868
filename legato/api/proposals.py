"""/v1/proposals: the rebalancer's proposed moves, and an operator's approval or rejection
(legato/api/service_layer/proposal_decisions.py)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Response

from legato.api.answers import decided, paged
from legato.api.dependencies import CallerDep, InventoryDep, TemporalDep
from legato.api.schemas import MAX_OFFSET, Page
from legato.api.service_layer import proposal_decisions
from legato.model.proposals import Proposal, ProposalState

router = APIRouter(prefix="/v1/proposals", tags=["rebalancing"])


@router.get("", response_model=Page)
async def list_proposals(response: Response, caller: CallerDep, inventory: InventoryDep,
                         state: ProposalState | None = None, offset: int = Query(0, ge=0, le=MAX_OFFSET),
                         limit: int = Query(100, ge=1, le=1000)) -> Page:
    tenant = None if caller.admin else caller.tenant
    items, total = await asyncio.to_thread(inventory.proposals, tenant, state, offset, limit)
    return paged(response, items, total, offset, limit)


@router.get("/{proposal_id}", response_model=Proposal)
async def get_proposal(proposal_id: str, caller: CallerDep, inventory: InventoryDep) -> Proposal:
    return await proposal_decisions.visible_proposal(inventory, caller, proposal_id)


@router.post("/{proposal_id}/approve", response_model=Proposal)
async def approve(proposal_id: str, response: Response, caller: CallerDep, inventory: InventoryDep,
                  temporal: TemporalDep,
                  wait: bool = Query(True, description="return when the move ends (else 202 at once)"),
                  timeout: float = Query(300.0, ge=0, le=3600)) -> Proposal:
    """Carry the move out. Approving again is harmless: the same workflow, the same move."""
    proposal, over = await proposal_decisions.approve(inventory, temporal, caller, proposal_id,
                                                      timeout if wait and timeout > 0 else None)
    return decided(response, f"/v1/proposals/{proposal_id}", proposal, over)


@router.post("/{proposal_id}/reject", response_model=Proposal)
async def reject(proposal_id: str, caller: CallerDep, inventory: InventoryDep) -> Proposal:
    return await proposal_decisions.reject(inventory, caller, proposal_id)
