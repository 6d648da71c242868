"""Maintenance windows in the inventory: an API record. A tenant declares its service's windows, an
operator a site's or a cluster's; the service client (legato/maintenance.py) reads those that
apply before an upgrade, a move or a cluster's scale-in is sent, and the service's workflow reads
them again when a window it waited for opens."""

from __future__ import annotations

from sqlalchemy import tuple_
from sqlmodel import select

from legato.inventory.maintenance_tables import MaintenanceWindowRow
from legato.inventory.store import Store
from legato.inventory.tables import utcnow

Scope = str  # service | site | cluster


class MaintenanceRecords(Store):
    """Written by the API (PUT .../maintenance-windows); read by the service client and the
    `maintenance.window` activity."""

    def maintenance_windows_set(self, scope: Scope, target: str, windows: list[dict], by: str) -> MaintenanceWindowRow:
        """Replace the windows of one target; an empty list removes the row (no restriction)."""
        with self.session() as s:
            row = s.get(MaintenanceWindowRow, (scope, target))
            if not windows:
                if row is not None:
                    s.delete(row)
                return MaintenanceWindowRow(scope=scope, target=target, windows=[], updated_by=by)
            row = row or MaintenanceWindowRow(scope=scope, target=target)
            row.windows, row.updated_by, row.updated_at = windows, by, utcnow()
            s.add(row)
            return row

    def maintenance_windows(self, scope: Scope, target: str) -> MaintenanceWindowRow | None:
        with self.session() as s:
            return s.get(MaintenanceWindowRow, (scope, target))

    def maintenance_windows_of(self, targets: list[tuple[Scope, str]]) -> dict[tuple[Scope, str], list[dict]]:
        """The windows declared for each of these targets (those with none are absent): one query."""
        if not targets:
            return {}
        with self.session() as s:
            rows = s.exec(select(MaintenanceWindowRow).where(
                tuple_(MaintenanceWindowRow.scope, MaintenanceWindowRow.target).in_(targets)))
            return {(r.scope, r.target): list(r.windows) for r in rows if r.windows}
