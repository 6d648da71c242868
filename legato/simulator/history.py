"""Continuity: how a component served over an interval, judged exactly from the replica and
connection history. This is how tests check that a day-2 change was make-before-break."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from legato.adapters.errors import InvalidRequest
from legato.simulator.store import Store


class ServingReport(BaseModel):
    """Ready replicas of one component (all its workloads and clusters) over [since, until]."""

    service_id: str
    component: str
    since: float
    until: float
    min_ready: int
    min_ready_at: float  # the first instant the minimum held
    max_ready: int
    final_ready: int
    # at every instant some user QoS session of the service reached a ready replica of the
    # component; None when the service never had a QoS session to this component
    path_connected: bool | None
    disconnected_at: float | None = None  # the first instant it did not


@dataclass(frozen=True)
class _Span:
    """[start, stop) of a replica being ready, or of a session being open, at one endpoint."""

    endpoint: str
    start: float
    stop: float | None

    def covers(self, t: float) -> bool:
        return self.start <= t and (self.stop is None or t < self.stop)


def _spans(db: Any, sql: str, args: dict) -> list[_Span]:
    """Spans from a query selecting (endpoint, start, stop)."""
    return [_Span(endpoint, start, stop) for endpoint, start, stop in db.execute(sql, args)]


class HistoryPart(Store):
    def ever_ran(self, service_id: str, component: str) -> bool:
        with self._read() as db:
            return db.execute("SELECT 1 FROM replicas WHERE service_id = ? AND component = ? LIMIT 1",
                              (service_id, component)).fetchone() is not None

    def serving(self, service_id: str, component: str, since: float, until: float | None = None) -> ServingReport:
        """`since`/`until` are epoch seconds (time.time()); `until` defaults to now."""
        end = time.time() if until is None else until
        if end < since:
            raise InvalidRequest(f"serving: until ({end}) is before since ({since})")
        args = {"s": service_id, "c": component, "since": since, "end": end}
        with self._read() as db:
            ready = _spans(db, "SELECT endpoint, MAX(created_at, ready_at), removed_at FROM replicas "
                               "WHERE service_id = :s AND component = :c AND created_at <= :end "
                               "AND (removed_at IS NULL OR removed_at > :since)", args)
            sessions = _spans(db, "SELECT target_endpoint, created_at, removed_at FROM connections "
                                  "WHERE service_id = :s AND kind = 'qos' AND created_at <= :end "
                                  "AND target_endpoint IN (SELECT endpoint FROM replicas "
                                  "WHERE service_id = :s AND component = :c)", args)
        return report(service_id, component, since, end, ready, sessions)


def report(
    service_id: str, component: str, since: float, end: float, ready: list[_Span], sessions: list[_Span]
) -> ServingReport:
    """Counts change only where a span starts or stops, so evaluating there is exact."""
    edges = {t for s in ready + sessions for t in (s.start, s.stop) if t is not None and since < t <= end}
    points = sorted({since, end} | edges)
    counts = [sum(s.covers(t) for s in ready) for t in points]

    def reached(t: float) -> bool:
        return any(s.covers(t) and any(r.endpoint == s.endpoint and r.covers(t) for r in ready) for s in sessions)

    low = min(counts)
    cut = next((t for t in points if not reached(t)), None) if sessions else None
    return ServingReport(
        service_id=service_id, component=component, since=since, until=end, min_ready=low,
        min_ready_at=points[counts.index(low)], max_ready=max(counts), final_ready=counts[-1],
        path_connected=None if not sessions else cut is None, disconnected_at=cut,
    )  # fmt: skip
