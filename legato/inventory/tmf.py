"""Reads and writes of the TMF records. Writes that report a change also write its event (outbox)
in the same transaction, and only when something changed, so a retried activity never doubles one."""

from __future__ import annotations

from sqlmodel import col, func, select

from legato.inventory.facade import Inventory
from legato.inventory.outbox import add_event, tmf_service
from legato.inventory.paging import page
from legato.inventory.tables import ServiceRow
from legato.inventory.tmf_tables import (
    CancelServiceOrderRow,
    DeliveryRow,
    EventRow,
    HubRow,
    ServiceOrderRow,
    ServiceSpecificationRow,
)
from legato.tmf.plans import NOTE_AUTHOR, OrderChange


class TmfRecords:
    def __init__(self, inventory: Inventory):
        self.inventory = inventory
        self.session = inventory.session

    @property
    def base(self) -> str:
        return self.inventory.public_url

    # --- TMF633 ------------------------------------------------------------------------------

    def specifications(self, tenant: str | None) -> list[ServiceSpecificationRow]:
        with self.session() as s:
            query = select(ServiceSpecificationRow).order_by(col(ServiceSpecificationRow.created_at))
            if tenant is not None:
                query = query.where(ServiceSpecificationRow.tenant == tenant)
            return list(s.exec(query))

    def specification(self, spec_id: str) -> ServiceSpecificationRow | None:
        with self.session() as s:
            return s.get(ServiceSpecificationRow, spec_id)

    def specification_saved(self, row: ServiceSpecificationRow, event_type: str) -> None:
        with self.session() as s:
            s.merge(row)
            add_event(s, row.tenant, event_type, row.body)

    def specification_deleted(self, row: ServiceSpecificationRow) -> None:
        self._delete_once(ServiceSpecificationRow, row.id, "ServiceSpecificationDeleteEvent")

    def _insert_once(self, row, event_type: str) -> None:
        """Insert a row unless it is there (its writers may run twice) with its create event."""
        with self.session() as s:
            if s.get(type(row), row.id) is None:
                s.add(row)
                add_event(s, row.tenant, event_type, row.body)

    def _delete_once(self, table, row_id: str, event_type: str) -> None:
        """Delete a row if it is there, with its delete event (as it was)."""
        with self.session() as s:
            row = s.get(table, row_id)
            if row is not None:
                s.delete(row)
                add_event(s, row.tenant, event_type, row.body)

    # --- TMF641 ------------------------------------------------------------------------------

    def order_accepted(self, row: ServiceOrderRow) -> None:
        """Insert once (the API and the order's workflow both call it) with its create event."""
        self._insert_once(row, "ServiceOrderCreateEvent")

    def order(self, order_id: str) -> ServiceOrderRow | None:
        with self.session() as s:
            return s.get(ServiceOrderRow, order_id)

    def orders(self, tenant: str | None, state: str | None, offset: int, limit: int) -> tuple[list, int]:
        with self.session() as s:
            return page(s, ServiceOrderRow, [col(ServiceOrderRow.created_at).desc()], offset, limit,
                        tenant=tenant, state=state)

    def order_changed(self, change: OrderChange) -> None:
        """The order's workflow's view (state, every item's state, notes, dates), newest version
        wins; a ServiceOrderStateChangeEvent when the state changed."""
        with self.session() as s:
            row = s.get(ServiceOrderRow, change.order_id, with_for_update=True)
            if row is None or row.version >= change.version:
                return
            body = dict(row.body)
            client_notes = [n for n in body.get("note", []) if n.get("author") != NOTE_AUTHOR]
            body["note"] = client_notes + [{"text": n.text, "date": n.date, "author": NOTE_AUTHOR}
                                           for n in change.notes]
            if not body["note"]:
                del body["note"]
            body["serviceOrderItem"] = [{**item, "state": change.items.get(item["id"], item.get("state"))}
                                        for item in body.get("serviceOrderItem", [])]
            body.update(change.fields)
            changed = change.state != row.state
            row.state = body["state"] = change.state
            row.body, row.version = body, change.version
            s.add(row)
            if changed:
                add_event(s, row.tenant, "ServiceOrderStateChangeEvent", body)

    def order_patched(self, order_id: str, fields: dict) -> ServiceOrderRow | None:
        """Descriptive attributes a client may change (the API checks which)."""
        with self.session() as s:
            row = s.get(ServiceOrderRow, order_id, with_for_update=True)
            if row is not None:
                row.body = {**row.body, **fields}
                s.add(row)
                add_event(s, row.tenant, "ServiceOrderAttributeValueChangeEvent", row.body)
            return row

    def order_deleted(self, order_id: str) -> None:
        self._delete_once(ServiceOrderRow, order_id, "ServiceOrderDeleteEvent")

    def cancel_created(self, row: CancelServiceOrderRow) -> None:
        self._insert_once(row, "CancelServiceOrderCreateEvent")

    def cancel(self, cancel_id: str) -> CancelServiceOrderRow | None:
        with self.session() as s:
            return s.get(CancelServiceOrderRow, cancel_id)

    def cancels(self, tenant: str | None, offset: int, limit: int) -> tuple[list, int]:
        with self.session() as s:
            return page(s, CancelServiceOrderRow, [col(CancelServiceOrderRow.created_at).desc()], offset, limit,
                        tenant=tenant)

    def cancel_changed(self, cancel_id: str, state: str, fields: dict | None = None) -> None:
        with self.session() as s:
            row = s.get(CancelServiceOrderRow, cancel_id)
            if row is None or row.body.get("state") == state:
                return
            row.body = {**row.body, **(fields or {}), "state": state}
            s.add(row)
            add_event(s, row.tenant, "CancelServiceOrderStateChangeEvent", row.body)

    # --- TMF638 ------------------------------------------------------------------------------

    def services(self, tenant: str | None, offset: int, limit: int) -> tuple[list[dict], int]:
        rows, total = self.inventory.services(tenant, offset, limit)
        with self.session() as s:
            return [tmf_service(s, self.base, row) for row in rows], total

    def service(self, service_id: str) -> tuple[str, dict] | None:
        """(tenant, TMF Service) or None."""
        with self.session() as s:
            row = s.get(ServiceRow, service_id)
            return None if row is None else (row.tenant, tmf_service(s, self.base, row))

    # --- hubs and delivery ---------------------------------------------------------------------

    def hub_added(self, row: HubRow) -> HubRow:
        """Events written from now on (after the highest sequence number so far) go to it."""
        with self.session() as s:
            row.after_seq = s.exec(select(func.max(EventRow.seq))).one() or 0
            s.add(row)
            return row

    def hub(self, hub_id: str) -> HubRow | None:
        with self.session() as s:
            return s.get(HubRow, hub_id)

    def hub_removed(self, hub_id: str) -> None:
        with self.session() as s:
            row = s.get(HubRow, hub_id)
            if row is not None:
                s.delete(row)

    def undelivered(self, hub: HubRow, event_types: set[str] | None, limit: int = 50) -> list[EventRow]:
        """The hub's events not yet delivered, oldest first."""
        with self.session() as s:
            done = select(DeliveryRow.seq).where(DeliveryRow.hub_id == hub.id)
            query = select(EventRow).where(EventRow.tenant == hub.tenant, EventRow.api == hub.api,
                                           col(EventRow.seq) > hub.after_seq, col(EventRow.seq).not_in(done))
            if event_types:
                query = query.where(col(EventRow.event_type).in_(sorted(event_types)))
            return list(s.exec(query.order_by(col(EventRow.seq)).limit(limit)))

    def delivered(self, hub_id: str, seq: int) -> None:
        with self.session() as s:
            if s.get(DeliveryRow, (hub_id, seq)) is None:
                s.add(DeliveryRow(hub_id=hub_id, seq=seq))
