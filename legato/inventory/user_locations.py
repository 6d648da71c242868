"""User-location reports of each service (API records: written by the API as reports arrive, and by
whoever applies them — the API, or the autopilot's round for those left waiting)."""

from __future__ import annotations

from sqlmodel import col, func, select

from legato.inventory.location_tables import UserLocationRow
from legato.inventory.store import Store


class LocationRecords(Store):
    def locations_recorded(self, rows: list[UserLocationRow]) -> None:
        with self.session() as s:
            s.add_all(rows)

    def locations_pending(self, service_id: str) -> list[UserLocationRow]:
        """Reports not applied yet, oldest first."""
        with self.session() as s:
            query = select(UserLocationRow).where(UserLocationRow.service_id == service_id,
                                                  col(UserLocationRow.applied_at).is_(None))
            return list(s.exec(query.order_by(col(UserLocationRow.id))))

    def locations_due(self, now: float) -> list[str]:
        """Services with reports waiting whose interval has passed."""
        with self.session() as s:
            query = select(UserLocationRow.service_id).where(col(UserLocationRow.applied_at).is_(None),
                                                             UserLocationRow.apply_after <= now)
            return sorted(set(s.exec(query.distinct())))

    def locations_applied(self, ids: list[int], at: float, operation: str) -> None:
        with self.session() as s:
            for row in s.exec(select(UserLocationRow).where(col(UserLocationRow.id).in_(ids))):
                row.applied_at, row.operation = at, operation
                s.add(row)

    def locations_last_applied(self, service_id: str) -> float | None:
        with self.session() as s:
            return s.exec(select(func.max(UserLocationRow.applied_at)).where(
                UserLocationRow.service_id == service_id)).one()

    def location_last_users(self, service_id: str, area: str) -> UserLocationRow | None:
        """The latest report of the area that gave a population (the base a new population scales)."""
        with self.session() as s:
            query = select(UserLocationRow).where(UserLocationRow.service_id == service_id,
                                                  UserLocationRow.area == area, col(UserLocationRow.users).is_not(None))
            return s.exec(query.order_by(col(UserLocationRow.id).desc()).limit(1)).first()

    def locations_of(self, service_id: str, limit: int = 100) -> list[UserLocationRow]:
        """The latest reports, newest first."""
        with self.session() as s:
            query = select(UserLocationRow).where(UserLocationRow.service_id == service_id)
            return list(s.exec(query.order_by(col(UserLocationRow.id).desc()).limit(limit)))
