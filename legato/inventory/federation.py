"""Inventory records of federation: the parts of our services running at partners, and the nonces
of the calls partners made to us (replay protection that survives restarts)."""

from __future__ import annotations

import time

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from legato.inventory.store import Store
from legato.inventory.tables import FederatedPartRow, FederationNonceRow, utcnow

# Send outcomes that leave nothing at the partner: its compensation has nothing to delete.
UNSENT = ("undelivered", "refused")


class FederationRecords(Store):
    """Parts: written by the federation activities (home side). Nonces: written by the API as it
    authenticates a partner's call (receiving side)."""

    def federated_part_recorded(self, row: FederatedPartRow) -> None:
        with self.session() as s:
            row.updated_at = utcnow()
            s.merge(row)

    def federated_part(self, request_id: str) -> FederatedPartRow | None:
        with self.session() as s:
            return s.get(FederatedPartRow, request_id)

    def federated_part_sending(self, row: FederatedPartRow) -> None:
        """Before each send: from now on the partner may hold the part (unless a send already may have
        delivered it, or it did)."""
        with self.session() as s:
            old = s.get(FederatedPartRow, row.request_id)
            if old is None or old.state in UNSENT:
                s.merge(row.model_copy(update={"state": "sending", "updated_at": utcnow()}))

    def federated_part_unsent(self, request_id: str, state: str) -> None:
        """A send that provably did not start anything at the partner (never connected, or refused)."""
        with self.session() as s:
            row = s.get(FederatedPartRow, request_id)
            if row is not None and row.state == "sending":
                row.state, row.updated_at = state, utcnow()

    def federated_part_removed(self, request_id: str) -> None:
        with self.session() as s:
            row = s.get(FederatedPartRow, request_id)
            if row is not None:
                s.delete(row)

    def federated_parts(self, service_id: str | None = None) -> list[FederatedPartRow]:
        with self.session() as s:
            query = select(FederatedPartRow)
            if service_id is not None:
                query = query.where(FederatedPartRow.service_id == service_id)
            return list(s.exec(query.order_by(col(FederatedPartRow.request_id))))

    def remember_nonce(self, issuer: str, nonce: str, expires_at: float) -> bool:
        """False if this nonce was seen before (a replay). Its own transaction: it must commit even
        if the request then fails, or the same call could be replayed."""
        with Session(self.engine) as s:
            s.exec(delete(FederationNonceRow).where(col(FederationNonceRow.expires_at) < time.time()))
            s.add(FederationNonceRow(issuer=issuer, nonce=nonce, expires_at=expires_at))
            try:
                s.commit()
            except IntegrityError:
                return False
        return True
