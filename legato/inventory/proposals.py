"""Rebalancing proposals in the inventory: what the `rebalance` schedule found, and what became of it."""

from __future__ import annotations

from sqlmodel import col, select

from legato.inventory.paging import page
from legato.inventory.store import Store
from legato.inventory.tables import ProposalRow
from legato.model.proposals import MoveOption, Proposal

OPEN = ("pending", "approved")


class ProposalRecords(Store):
    """Found by the rebalance activity, decided by an operator through the API, closed by the
    ApplyProposal workflow's activity."""

    def proposals_found(self, options: list[MoveOption], scanned: list[str], scan_id: str) -> list[Proposal]:
        """Record one scan's options, idempotently (ids derive from the scan). A service keeps at most
        one pending proposal: a different move supersedes the old one; no move any more makes it stale."""
        found = {o.service_id: o for o in options}
        out: list[Proposal] = []
        with self.session() as s:
            pending = s.exec(select(ProposalRow).where(ProposalRow.state == "pending",
                                                       col(ProposalRow.service_id).in_(scanned)))
            for row in pending:
                option = found.get(row.service_id)
                if option is None:
                    row.state, row.detail = "stale", "a later scan found no move worth making"
                elif (row.component, row.to_site) == (option.component, option.to_site):
                    found.pop(row.service_id)  # the same move, still worth it: keep the first proposal
                    row.gain, row.reason, row.new_score = option.gain, option.reason, option.new_score
                    out.append(Proposal.model_validate(row, from_attributes=True))
                else:
                    row.state = "superseded"
                    row.detail = f"a later scan proposes {option.component} -> {option.to_site}"
                s.add(row)
            for option in found.values():
                pid = f"rb-{scan_id}-{option.service_id}"
                row = s.get(ProposalRow, pid)
                if row is None:
                    row = ProposalRow(id=pid, state="pending", **option.model_dump())
                    s.add(row)
                out.append(Proposal.model_validate(row, from_attributes=True))
        return sorted(out, key=lambda p: (-p.gain, p.service_id))

    def proposals(self, tenant: str | None, state: str | None = None, offset: int = 0,
                  limit: int = 100) -> tuple[list[Proposal], int]:
        with self.session() as s:
            rows, total = page(s, ProposalRow, [col(ProposalRow.created_at).desc(), ProposalRow.id], offset, limit,
                               tenant=tenant, state=state)
        return [Proposal.model_validate(r, from_attributes=True) for r in rows], total

    def proposal(self, proposal_id: str) -> Proposal | None:
        with self.session() as s:
            row = s.get(ProposalRow, proposal_id)
            return Proposal.model_validate(row, from_attributes=True) if row else None

    def proposal_decided(self, proposal_id: str, state: str, by: str | None = None, detail: str = "",
                         only_from: tuple[str, ...] = OPEN) -> Proposal | None:
        """Move a proposal on, only from the states given (None: it was not in one of them)."""
        with self.session() as s:
            row = s.get(ProposalRow, proposal_id)
            if row is None or row.state not in only_from:
                return None
            row.state, row.detail = state, detail
            if by is not None:
                row.decided_by = by
            s.add(row)
            return Proposal.model_validate(row, from_attributes=True)
