"""The autopilot's records: the KPI samples it forecasts from, the health readings and confirmed
failures it heals from, and the measures database — every
automatic action (or proposal) with the reason and figures behind it, the KPIs before and after a
fixed window, and its measured effect, which the planner reads back ("an action that did not help
last time, in the same situation, is not the first choice next time"). Written only by the
autopilot's activities; `GET /v1/measures` reads them (a tenant, its own services' only)."""

from __future__ import annotations

from sqlmodel import col, delete, func, select

from legato.inventory.measure_tables import FailureRow, HealthReadingRow, KpiSampleRow, MeasureRow
from legato.inventory.store import Store, updated


class MeasureRecords(Store):
    # ---- samples

    def samples_recorded(self, rows: list[KpiSampleRow]) -> None:
        with self.session() as s:
            s.add_all(rows)

    def samples(self, service_id: str, component: str, since: float) -> list[KpiSampleRow]:
        with self.session() as s:
            query = select(KpiSampleRow).where(KpiSampleRow.service_id == service_id,
                                               KpiSampleRow.component == component, KpiSampleRow.at >= since)
            return list(s.exec(query.order_by(col(KpiSampleRow.at))))

    def samples_pruned(self, before: float) -> int:
        """Samples older than the forecasts' history are dropped (the table stays bounded)."""
        with self.session() as s:
            return s.exec(delete(KpiSampleRow).where(col(KpiSampleRow.at) < before)).rowcount  # type: ignore[call-overload]

    # ---- measures

    def measure_recorded(self, row: MeasureRow) -> MeasureRow:
        """Idempotent on the id: a retried activity finds the first record."""
        with self.session() as s:
            found = s.get(MeasureRow, row.id)
            if found is not None:
                return found
            s.add(row)
            return row

    def measure_updated(self, measure_id: str, **fields) -> MeasureRow | None:
        with self.session() as s:
            return updated(s, MeasureRow, measure_id, fields)

    def measure_decided(self, measure_id: str, to_state: str, detail: str,
                        only_from: tuple[str, ...]) -> MeasureRow | None:
        """Move a proposal on (approved: `acting`; rejected), only from the states given; None otherwise."""
        with self.session() as s:
            row = s.get(MeasureRow, measure_id, with_for_update=True)
            if row is None or row.state not in only_from:
                return None
            row.state, row.detail = to_state, detail
            s.add(row)
            return row

    def measure(self, measure_id: str) -> MeasureRow | None:
        with self.session() as s:
            return s.get(MeasureRow, measure_id)

    def measures(self, tenant: str | None = None, service_id: str | None = None, offset: int = 0,
                 limit: int = 100) -> tuple[list[MeasureRow], int]:
        """Newest first. `tenant`: only that tenant's (None: every tenant's, for an operator)."""
        with self.session() as s:
            query = select(MeasureRow)
            if tenant is not None:
                query = query.where(MeasureRow.tenant == tenant)
            if service_id is not None:
                query = query.where(MeasureRow.service_id == service_id)
            total = s.exec(select(func.count()).select_from(query.subquery())).one()
            rows = s.exec(query.order_by(col(MeasureRow.decided_at).desc()).offset(offset).limit(limit))
            return list(rows), total

    def measures_of(self, service_id: str, since: float) -> list[MeasureRow]:
        """The service's actions since `since`, oldest first: its cooldown, budget and lessons."""
        with self.session() as s:
            query = select(MeasureRow).where(MeasureRow.service_id == service_id, MeasureRow.decided_at >= since)
            return list(s.exec(query.order_by(col(MeasureRow.decided_at))))

    def measures_answering(self, breach: str) -> list[MeasureRow]:
        """The actions taken for one breach (a failure's heals: whom to clean up after when it ends)."""
        with self.session() as s:
            return list(s.exec(select(MeasureRow).where(MeasureRow.breach == breach)))

    def measures_due(self, acted_before: float) -> list[MeasureRow]:
        """Actions done before `acted_before` (their after-window has passed), not measured yet."""
        with self.session() as s:
            query = select(MeasureRow).where(MeasureRow.state == "done", col(MeasureRow.acted_at) <= acted_before)
            return list(s.exec(query.order_by(col(MeasureRow.decided_at))))

    # ---- health readings and failures

    def readings_recorded(self, rows: list[HealthReadingRow]) -> None:
        with self.session() as s:
            s.add_all(rows)

    def watched_resources(self, since: float) -> set[str]:
        """Resources read since `since` (a resource seen unhealthy is read on until it leaves)."""
        with self.session() as s:
            return set(s.exec(select(HealthReadingRow.resource).where(col(HealthReadingRow.at) >= since).distinct()))

    def readings(self, since: float) -> dict[str, list[HealthReadingRow]]:
        """Every watched resource's readings since `since`, oldest first."""
        with self.session() as s:
            rows = s.exec(select(HealthReadingRow).where(col(HealthReadingRow.at) >= since)
                          .order_by(col(HealthReadingRow.at)))
            found: dict[str, list[HealthReadingRow]] = {}
            for row in rows:
                found.setdefault(row.resource, []).append(row)
            return found

    def readings_pruned(self, before: float) -> None:
        with self.session() as s:
            s.exec(delete(HealthReadingRow).where(col(HealthReadingRow.at) < before))  # type: ignore[call-overload]

    def open_failures(self) -> dict[str, FailureRow]:
        with self.session() as s:
            return {f.resource: f for f in s.exec(select(FailureRow))}

    def failure_opened(self, row: FailureRow) -> None:
        with self.session() as s:
            if s.get(FailureRow, row.resource) is None:
                s.add(row)

    def failure_closed(self, resource: str) -> None:
        with self.session() as s:
            row = s.get(FailureRow, resource)
            if row is not None:
                s.delete(row)
