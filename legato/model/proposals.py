"""Rebalancing proposals: a better site for a running component, found by the `rebalance` schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from legato.model.operations import MoveRequest, Operation

ProposalState = Literal["pending", "approved", "rejected", "superseded", "stale", "done", "failed"]


class MoveOption(BaseModel):
    """What re-optimising one service against today's prices, carbon and load found."""

    service_id: str
    tenant: str
    component: str
    from_site: str
    to_site: str
    current_score: float | None  # None: where it runs now breaks a rule (policy changed, site gone)
    new_score: float
    gain: float  # relative to the current score; 1.0 when the current site breaks a rule
    reason: str


class Proposal(MoveOption):
    id: str
    state: ProposalState
    created_at: datetime
    decided_by: str | None = None
    detail: str = ""  # the move operation's outcome once executed

    def operation(self, by: str) -> Operation:
        """The day-2 move that carries it out; the proposal id is its idempotency key, so approving
        twice, or a retried execution, moves once. It does not pin: a later scan may move it again."""
        return Operation(kind="move", component=self.component,
                         move=MoveRequest(site=self.to_site, pin=False, request_id=self.id, requested_by=by))
