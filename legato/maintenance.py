"""Maintenance windows: when disruptive operations may run.

A service (its tenant), a site or a cluster (an operator) may declare windows: recurrences, read in
a time zone, each open for a duration. Disruptive operations (an upgrade, a move, an operator's
scale-in of a cluster) run only while every owner that declared windows has one open: the
service's, its component's site and cluster, and a move's target site. Scaling out or in a
component and healing (repairs) are never held back. No windows declared: no restriction.

The service client (legato/client.py) asks `MaintenanceGate` before sending an operation: outside
the windows, the operation carries when it may run (`WindowWait`), and the service's workflow
holds it, durably, until then (or the client refuses it, as the request chooses). When that time
comes, the workflow asks again (the `maintenance.window` activity), since windows may have changed
meanwhile. Pure evaluation below; the inventory is read only by `MaintenanceGate`."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from legato.model.operations import Operation, WindowWait
from legato.model.schedules import MaintenanceWindow
from legato.recurrence import Calendar, occurrences, zone

DISRUPTIVE = frozenset({"upgrade", "move", "cluster_upgrade"})
HORIZON = timedelta(days=366)  # how far ahead a common opening is looked for
MAX_CANDIDATES = 20_000  # window starts examined at most (a window every minute: two weeks of them)
TICK = timedelta(microseconds=1)


class NoCommonWindow(Exception):
    """The windows that apply never open together within the horizon: the operation can never run."""


@dataclass(frozen=True)
class Window:
    calendars: tuple[Calendar, ...]
    tz: ZoneInfo
    duration: timedelta

    @classmethod
    def of(cls, window: MaintenanceWindow) -> Window:
        return cls(tuple(window.calendars()), zone(window.time_zone), timedelta(minutes=window.duration_minutes))

    def starts(self, since: datetime, until: datetime) -> Iterator[datetime]:
        return heapq.merge(*(occurrences(c, self.tz, since, until) for c in self.calendars))

    def closes(self, at: datetime) -> datetime | None:
        """When the occurrence of this window open at `at` closes; None if none is open then."""
        start = next(self.starts(at - self.duration + TICK, at), None)
        return None if start is None else start + self.duration


@dataclass(frozen=True)
class Owner:
    """Who declared windows (`service web-shop-1a2b3c`, `site paris-edge-1`) and which."""

    label: str
    windows: tuple[Window, ...]

    def closes(self, at: datetime) -> datetime | None:
        found = [c for c in (w.closes(at) for w in self.windows) if c is not None]
        return max(found) if found else None

    def starts(self, since: datetime, until: datetime) -> Iterator[datetime]:
        return heapq.merge(*(w.starts(since, until) for w in self.windows))


def next_opening(owners: list[Owner], now: datetime) -> tuple[datetime, datetime | None]:
    """The earliest instant at or after `now` when every owner has a window open, and when the
    first of those closes (None: no owner restricts). NoCommonWindow if there is none within
    the horizon. A shared opening begins when the last of them opens, so only window starts
    (and now) need checking."""
    if not owners:
        return now, None
    candidates = heapq.merge(*(o.starts(now, now + HORIZON) for o in owners))
    for at in itertools.islice(itertools.chain([now], candidates), MAX_CANDIDATES):
        closes = [o.closes(at) for o in owners]
        if all(c is not None for c in closes):
            return at, min(closes)
    labels = " and ".join(o.label for o in owners)
    raise NoCommonWindow(f"the maintenance windows of {labels} are never open together within "
                         f"{HORIZON.days} days")


def owner(label: str, declared: list[dict]) -> Owner:
    return Owner(label, tuple(Window.of(MaintenanceWindow.model_validate(w)) for w in declared))


def wait_for(owners: list[Owner], now: datetime) -> WindowWait | None:
    """None when every owner has a window open now; else when they next open together."""
    opens, closes = next_opening(owners, now)
    if opens <= now:
        return None
    return WindowWait(opens_at=opens, closes_at=closes, reason="windows of " + ", ".join(o.label for o in owners))


class MaintenanceGate:
    """What the service client asks before sending an operation: does it wait for a window?"""

    def __init__(self, inventory) -> None:
        self.inventory = inventory

    async def __call__(self, service_id: str, op: Operation) -> WindowWait | None:
        return await asyncio.to_thread(self.check, service_id, op, datetime.now(UTC))

    def owners(self, service_id: str, op: Operation) -> list[Owner]:
        """The owners whose windows apply to `op` and declared some."""
        if op.kind not in DISRUPTIVE:
            return []
        targets = [("service", service_id)]
        if op.cluster_upgrade is not None:  # the service's own cluster, drained node by node
            cluster = self.inventory.cluster(op.cluster_upgrade.cluster_id)
            if cluster is not None:
                targets += [("site", cluster.site), ("cluster", cluster.id)]
        elif op.component is None:
            return []
        elif (component := self.inventory.component(service_id, op.component)) is not None:
            targets += [("site", component.site), ("cluster", component.cluster)]  # None: a partner's windows
        if op.kind == "move" and op.move is not None and op.move.site is not None:
            targets.append(("site", op.move.site))
        declared = self.inventory.maintenance_windows_of(list(dict.fromkeys(targets)))
        return [owner(f"{scope} {target}", declared[(scope, target)]) for scope, target in dict.fromkeys(targets)
                if (scope, target) in declared]

    def check(self, service_id: str, op: Operation, now: datetime) -> WindowWait | None:
        """None: `op` may run now. Else when it may. NoCommonWindow if it never may."""
        return wait_for(self.owners(service_id, op), now)

    def check_cluster(self, cluster_id: str, site: str, now: datetime) -> WindowWait | None:
        """For an operator's scale-in of a shared cluster: its windows and its site's."""
        targets = [("site", site), ("cluster", cluster_id)]
        declared = self.inventory.maintenance_windows_of(targets)
        return wait_for([owner(f"{s} {t}", declared[(s, t)]) for s, t in targets if (s, t) in declared], now)


def window_state(declared: list[dict], label: str, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(next opening, open until) of one owner's windows, for the API to show (now when open)."""
    if not declared:
        return None, None
    try:
        opens, closes = next_opening([owner(label, declared)], now)
    except NoCommonWindow:
        return None, None
    return opens, closes
