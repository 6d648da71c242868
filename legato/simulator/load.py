"""The simulator's users: demand per user area over time, kept in the simulator's file like the
rest of its state, so a test or the API sets it in one process and every worker sees it.

Demand from the users of a service declared in area A, at sim time t, located in area L:

    declared(A) x share of A's users in L at t x daily curve of L at t x every flash crowd on L at t

`declared(A)` is the service's `UserArea.demand_rps`, passed by the reader (the simulator does not
read specs). A shift moves a share of A's users to L linearly over its duration, and they stay
there (script the shift back to end it); shifts move only the users declared in their source, not
those another shift brought there. Moved users follow the curve and crowds of the area they are in.

Sim time runs `factor` times faster than the real clock from an anchor (sim = sim_start + factor x
(real - real_start)); `Clock.sim` is the one place that says what "now" is for the load, so a
compressed day runs in minutes. Unset, sim time is the real clock.
"""

from __future__ import annotations

import math
import sqlite3
import time
from dataclasses import dataclass, field

from legato.adapters.errors import InvalidRequest
from legato.model import Topology
from legato.simulator.store import Store

HOUR, DAY = 3600.0, 86400.0
CLOCKS = ("local", "utc")


@dataclass(frozen=True)
class Clock:
    factor: float = 1.0
    sim_start: float = 0.0
    real_start: float = 0.0

    def sim(self, real: float) -> float:
        return self.sim_start + self.factor * (real - self.real_start)


@dataclass(frozen=True)
class DailyCurve:
    """1 + amplitude x cos(2 pi (hour - peak_hour) / 24): a day's mean is the declared demand, its
    peak (1 + amplitude) x at `peak_hour`. `clock` "local" is the area's mean solar time (UTC +
    longitude / 15 h: areas carry coordinates, not time zones), "utc" the UTC hour."""

    amplitude: float
    peak_hour: float
    clock: str = "local"

    def factor(self, t: float, longitude: float) -> float:
        hour = (t % DAY) / HOUR + (longitude / 15 if self.clock == "local" else 0.0)
        return 1.0 + self.amplitude * math.cos(2 * math.pi * (hour - self.peak_hour) / 24)


@dataclass(frozen=True)
class FlashCrowd:
    area: str
    start: float
    duration: float
    multiplier: float

    def factor(self, t: float) -> float:
        return self.multiplier if self.start <= t < self.start + self.duration else 1.0


@dataclass(frozen=True)
class UserShift:
    source: str
    target: str
    start: float
    duration: float
    share: float

    def moved(self, t: float) -> float:
        """The share of the source's users in the target at t: 0 before, `share` once done."""
        if t <= self.start:
            return 0.0
        if t >= self.start + self.duration:
            return self.share
        return self.share * (t - self.start) / self.duration


@dataclass
class LoadModel:
    clock: Clock = field(default_factory=Clock)
    curves: dict[str, DailyCurve] = field(default_factory=dict)
    crowds: list[FlashCrowd] = field(default_factory=list)
    shifts: list[UserShift] = field(default_factory=list)
    longitudes: dict[str, float] = field(default_factory=dict)

    def area_factor(self, area: str, t: float) -> float:
        curve = self.curves.get(area)
        factor = curve.factor(t, self.longitudes.get(area, 0.0)) if curve else 1.0
        for crowd in self.crowds:
            if crowd.area == area:
                factor *= crowd.factor(t)
        return factor

    def located(self, origin: str, t: float) -> dict[str, float]:
        """Where the users declared in `origin` are at t, as shares summing to 1 (shifts asking to
        move more than all of them are scaled down together)."""
        moved: dict[str, float] = {}
        for shift in self.shifts:
            if shift.source == origin and shift.target != origin:
                moved[shift.target] = moved.get(shift.target, 0.0) + shift.moved(t)
        total = sum(moved.values())
        if total > 1.0:
            moved, total = {a: v / total for a, v in moved.items()}, 1.0
        return {a: v for a, v in {origin: 1.0 - total, **moved}.items() if v > 0}

    def demand(self, origin: str, declared_rps: float, t: float) -> dict[str, float]:
        """Requests per second the origin's users send at sim time t, by the area they are in."""
        located = self.located(origin, t)
        return {area: declared_rps * share * self.area_factor(area, t) for area, share in located.items()}

    def describe(self, real_now: float) -> dict:
        """The model as the API shows it (times as sim epoch seconds)."""
        return {
            "sim_now": self.clock.sim(real_now), "factor": self.clock.factor,
            "curves": {a: vars(c) for a, c in sorted(self.curves.items())},
            "flash_crowds": [vars(c) for c in self.crowds], "shifts": [vars(s) for s in self.shifts],
        }  # fmt: skip


def load_model(db: sqlite3.Connection, topology: Topology) -> LoadModel:
    settings = {r["key"]: r["value"] for r in db.execute("SELECT key, value FROM settings WHERE key LIKE 'load_%'")}
    clock = Clock(settings.get("load_factor", 1.0), settings.get("load_sim_start", 0.0),
                  settings.get("load_real_start", 0.0))  # fmt: skip
    return LoadModel(
        clock=clock,
        curves={r["area"]: DailyCurve(r["amplitude"], r["peak_hour"], r["clock"])
                for r in db.execute("SELECT * FROM daily_curves")},
        crowds=[FlashCrowd(r["area"], r["start"], r["duration"], r["multiplier"])
                for r in db.execute("SELECT * FROM flash_crowds ORDER BY seq")],
        shifts=[UserShift(r["source"], r["target"], r["start"], r["duration"], r["share"])
                for r in db.execute("SELECT * FROM user_shifts ORDER BY seq")],
        longitudes={a.id: a.lon for a in topology.areas.values()},
    )  # fmt: skip


def _between(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low:g} and {high:g}, not {value:g}")


class LoadPart(Store):
    """The load's controls, like `set_fault`: any process sets them, every reader sees them."""

    def load(self) -> LoadModel:
        with self._read() as db:
            return load_model(db, self._topology(db))

    def sim_now(self) -> float:
        """The load's now: sim epoch seconds."""
        return self.load().clock.sim(time.time())

    def set_compression(self, factor: float, sim_start: float | None = None) -> None:
        """From now, sim time runs `factor` times as fast as the real clock, from `sim_start` (default:
        the sim time now, so the load carries on without a jump)."""
        if not 0 < factor <= 100_000:
            raise InvalidRequest(f"compression factor must be > 0 and at most 100000, not {factor:g}")
        with self._tx() as db:
            now = time.time()
            start = load_model(db, self._topology(db)).clock.sim(now) if sim_start is None else sim_start
            db.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)",
                           [("load_factor", factor), ("load_sim_start", start), ("load_real_start", now)])

    def set_daily_curve(self, area: str, amplitude: float, peak_hour: float, clock: str = "local") -> None:
        _between("amplitude", amplitude, 0, 1)
        _between("peak_hour", peak_hour, 0, 24)
        if clock not in CLOCKS:
            raise InvalidRequest(f"clock must be one of {CLOCKS}, not {clock!r}")
        with self._tx() as db:
            self._known_area(db, area)
            db.execute("INSERT OR REPLACE INTO daily_curves VALUES (?, ?, ?, ?)", (area, amplitude, peak_hour, clock))

    def add_flash_crowd(self, area: str, start: float, duration: float, multiplier: float) -> None:
        """From sim time `start`, for `duration` sim seconds, the area's demand is `multiplier` times as high."""
        if duration <= 0 or multiplier <= 0:
            raise InvalidRequest(f"a flash crowd needs a duration and a multiplier > 0, not {duration:g} and "
                                 f"{multiplier:g}")
        with self._tx() as db:
            self._known_area(db, area)
            db.execute("INSERT INTO flash_crowds (area, start, duration, multiplier) VALUES (?, ?, ?, ?)",
                       (area, start, duration, multiplier))

    def add_user_shift(self, source: str, target: str, start: float, duration: float, share: float) -> None:
        """From sim time `start`, over `duration` sim seconds, `share` of the users declared in
        `source` move to `target`, and stay."""
        _between("share", share, 0, 1)
        if duration < 0:
            raise InvalidRequest(f"duration must be >= 0 seconds, not {duration:g}")
        if source == target:
            raise InvalidRequest(f"a shift moves users between two areas, not from {source} to itself")
        with self._tx() as db:
            self._known_area(db, source)
            self._known_area(db, target)
            db.execute("INSERT INTO user_shifts (source, target, start, duration, share) VALUES (?, ?, ?, ?, ?)",
                       (source, target, start, duration, share))

    def set_request_cost(self, service_id: str, component: str, cpu_seconds: float) -> None:
        """CPU-seconds one request of the component takes (default DEFAULT_CPU_SECONDS in kpis.py)."""
        if not 0 < cpu_seconds <= 60:
            raise InvalidRequest(f"cpu_seconds must be > 0 and at most 60, not {cpu_seconds:g}")
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO request_costs VALUES (?, ?, ?)", (service_id, component, cpu_seconds))

    def clear_load(self) -> None:
        """No curves, crowds, shifts or costs; sim time back to the real clock."""
        with self._tx() as db:
            for table in ("daily_curves", "flash_crowds", "user_shifts", "request_costs"):
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM settings WHERE key LIKE 'load_%'")

    def _known_area(self, db: sqlite3.Connection, area: str) -> None:
        topology = self._topology(db)
        if area not in topology.areas and area not in topology.area_latency_ms:
            known = sorted(set(topology.areas) | set(topology.area_latency_ms))
            raise InvalidRequest(f"unknown user area '{area}'; known: {known}")
