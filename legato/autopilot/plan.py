"""What the autopilot does for one component, from its recent samples, its objectives, the bounds
the policies allow, and what earlier actions achieved (docs/design.md, "The autopilot").

Pure: the same inputs give the same plan, so a planning round can be replayed from its recorded
inputs and tested without telemetry. The rules, in the order they are tried:

1. **Nothing within the cooldown** of the service's last action, nor beyond its hourly budget: an
   action is never reversed before its effect can be measured, and nothing flaps.
2. **Scale out** when utilisation is above the band now, or is predicted above it within the
   horizon (the forecast's upper bound of the request rate, over the replicas there are): to the
   replicas that bring the predicted load to the middle of the band, within `max_replicas`.
3. **Follow the users** (an entry component, whose `Geography` the caller gives): when most of its
   requests now come from one area, its p95 there breaches or is about to (`NEAR` of the
   objective), and another site would cut the demand-weighted network latency by at least `GAIN`,
   move it to the site nearest the centre of demand (`toward_demand`).
4. **Move towards the users** when an area's p95 latency breaches its objective and the replicas
   are not busy (distance, not load, is the cause), or when scaling out for that area's latency
   did not help last time (the measures say so) — but not, for an entry component, towards an
   area that sends less than `SHIFTED` of its requests: that would undo rule 3 at the next cooldown.
5. **Scale in** only after `CALM` samples in a row below the band, and only as far as keeps the
   predicted peak inside the band: hysteresis twice over.

Errors that come with high utilisation are answered by rule 2; errors at normal utilisation are a
bad version's, which a canary's gate and rollback answer, not the autopilot (reported, not acted)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from legato.autopilot.forecast import Forecast, forecast

CALM = 3  # samples in a row below the band before a scale-in
BUSY = 0.05  # utilisation under which a sample tells nothing about a replica's capacity
HOUR = 3600.0
SHIFTED = 0.5  # share of a component's requests from one area that makes that area where its users are
NEAR = 0.8  # a p95 at this share of its objective is about to breach: move before users feel it
GAIN = 0.2  # a move must cut the demand-weighted network latency by this share (else it is not worth a move)


@dataclass(frozen=True)
class Sample:
    """One reading of a component (telemetry over a window ending at `at`)."""

    at: float
    replicas: int  # ready
    request_rate: float  # req/s
    utilisation: float  # of the CPU its replicas asked for
    error_rate: float = 0.0
    p95_ms: dict[str, float] = field(default_factory=dict)  # by user area
    area_rps: dict[str, float] = field(default_factory=dict)  # requests per second by the area they come from


@dataclass(frozen=True)
class Objectives:
    """A component's SLOs as the planner reads them."""

    util_low: float = 0.3
    util_high: float = 0.75
    p95_ms: dict[str, float] = field(default_factory=dict)  # by user area
    max_error_rate: float | None = None

    @property
    def util_target(self) -> float:
        return (self.util_low + self.util_high) / 2


@dataclass(frozen=True)
class Bounds:
    """What the effective policy (operator's, tightened by the service's) lets the autopilot do."""

    scale: bool = True
    move: bool = True
    min_replicas: int = 1
    max_replicas: int = 20
    cooldown_seconds: float = 300.0
    max_actions_per_hour: int = 6


@dataclass(frozen=True)
class Past:
    """An earlier action of the service and what it achieved (a measure)."""

    at: float
    kind: str
    component: str
    breach: str  # e.g. "utilisation", "latency:paris"
    helped: bool | None = None  # None: not measured yet


@dataclass(frozen=True)
class Action:
    kind: Literal["scale", "move"]
    component: str
    breach: str
    reason: str  # for the operations log and the operator: what, and the figures behind it
    replicas: int | None = None  # scale: the new count
    area: str | None = None  # move: towards whom
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Geography:
    """Where an entry component runs, and the network latency (ms, one-way as the topology states
    it) from each user area to each site it may go to, the current one included."""

    site: str
    area_ms: dict[str, dict[str, float]]  # area -> site -> ms


@dataclass(frozen=True)
class Held:
    """No action, and why (shown in the autopilot's round, never silently dropped)."""

    component: str
    reason: str


def plan(component: str, samples: Sequence[Sample], objectives: Objectives, bounds: Bounds, past: Sequence[Past],
         now: float, horizon: int, season: int | None = None, geography: Geography | None = None,
         ) -> Action | Held | None:
    """The action for `component` now, a Held saying why there is none though something breaches,
    or None when all is well. `samples` oldest first, evenly spaced; `horizon` in samples;
    `geography` for an entry component (users reach it), else None."""
    if not samples:
        return None
    last = samples[-1]
    rates = [s.request_rate for s in samples]
    ahead = forecast(rates, horizon, season)
    capacity = _capacity(samples)  # req/s one replica serves at utilisation 1
    latency = _latency_breaches(last, objectives)
    busy_now = last.utilisation > objectives.util_high
    predicted = ahead.upper / (capacity * last.replicas) if capacity and last.replicas else None
    busy_ahead = predicted is not None and predicted > objectives.util_high
    calm = len(samples) >= CALM and all(s.utilisation < objectives.util_low for s in samples[-CALM:])
    follow = toward_demand(component, last, objectives, geography) if geography is not None else None
    if not (busy_now or busy_ahead or latency or calm or follow):
        errors = objectives.max_error_rate is not None and last.error_rate > objectives.max_error_rate
        return Held(component, f"error rate {last.error_rate:.1%} at utilisation {last.utilisation:.0%}: "
                               "a version's errors, for its canary gate, not the autopilot") if errors else None
    if (why := _held_back(past, now, bounds)) is not None:
        return Held(component, why)
    if (busy_now or busy_ahead) and capacity:
        if (out := _scale_out(component, last, ahead, capacity, objectives, bounds, busy_now, latency, past)):
            return out
    if follow is not None:
        return follow if bounds.move else Held(component, f"{follow.reason}; and moves are not allowed")
    if latency:
        area, seen, wanted = latency[0]
        share = _share(last, area) if geography is not None else None
        if share is not None and share < SHIFTED:
            return Held(component, f"p95 latency from {area} {seen:.0f} ms > {wanted:.0f} ms, but only {share:.0%} "
                                   "of the requests come from there: it stays where most of its users are")
        if bounds.move:
            return Action("move", component, f"latency:{area}", area=area,
                          reason=f"p95 latency from {area} {seen:.0f} ms > {wanted:.0f} ms at utilisation "
                                 f"{last.utilisation:.0%}: the distance, not the load; move towards {area}",
                          data={"p95_ms": seen, "objective_ms": wanted, "utilisation": last.utilisation})  # fmt: skip
        return Held(component, f"p95 latency from {area} {seen:.0f} ms > {wanted:.0f} ms, and moves are not allowed")
    if calm and capacity and bounds.scale:
        return _scale_in(component, last, ahead, capacity, objectives, bounds)
    return None


def _scale_out(component: str, last: Sample, ahead: Forecast, capacity: float, objectives: Objectives,
               bounds: Bounds, busy_now: bool, latency: list, past: Sequence[Past]) -> Action | Held | None:
    if not bounds.scale:
        return Held(component, "utilisation above its band, and scaling is not allowed")
    breach = "utilisation"
    if latency and any(p.kind == "scale" and p.breach == f"latency:{latency[0][0]}" and p.helped is False
                       for p in past if p.component == component):  # fmt: skip
        return None  # scaling did not cure this area's latency last time: let the move rule try
    load = max(ahead.upper, last.request_rate)
    wanted = min(bounds.max_replicas, max(bounds.min_replicas, math.ceil(load / (capacity * objectives.util_target))))
    if wanted <= last.replicas:
        return Held(component, f"utilisation above its band at {last.replicas} replicas, the most allowed "
                               f"({bounds.max_replicas})")
    when = (f"utilisation {last.utilisation:.0%} > {objectives.util_high:.0%} now" if busy_now else
            f"utilisation predicted {ahead.upper / (capacity * last.replicas):.0%} > {objectives.util_high:.0%} "
            f"within the horizon ({last.request_rate:.0f} -> {ahead.upper:.0f} req/s, {ahead.method})")
    return Action("scale", component, breach, replicas=wanted,
                  reason=f"{when}: {last.replicas} -> {wanted} replicas",
                  data={"utilisation": last.utilisation, "request_rate": last.request_rate,
                        "forecast_peak": ahead.peak, "forecast_upper": ahead.upper, "capacity_per_replica": capacity,
                        "method": ahead.method})  # fmt: skip


def _scale_in(component: str, last: Sample, ahead: Forecast, capacity: float, objectives: Objectives,
              bounds: Bounds) -> Action | None:
    load = max(ahead.peak, last.request_rate)
    wanted = max(bounds.min_replicas, math.ceil(load / (capacity * objectives.util_target)))
    if wanted >= last.replicas or ahead.upper / (capacity * wanted) > objectives.util_high:
        return None  # fewer would leave the band at the predicted peak
    return Action("scale", component, "utilisation-low", replicas=wanted,
                  reason=f"utilisation under {objectives.util_low:.0%} for {CALM} samples "
                         f"({last.utilisation:.0%} now), and the predicted peak ({ahead.peak:.0f} req/s) fits "
                         f"{wanted}: {last.replicas} -> {wanted} replicas",
                  data={"utilisation": last.utilisation, "forecast_peak": ahead.peak, "capacity_per_replica": capacity})


def toward_demand(component: str, last: Sample, objectives: Objectives, geo: Geography) -> Action | None:
    """A move to where the users now are, or None. The centre of demand is the site with the least
    network latency weighted by each area's request rate; the move is asked when one area sends at
    least `SHIFTED` of the requests, its p95 is at `NEAR` of its objective or over, the centre
    cuts the weighted latency by `GAIN` or more, and the area's p95 there (less the network it
    leaves, plus the network it gains) meets the objective: where the time is spent being served,
    a move cures nothing and the scale rules answer. Users located in an area with no objective of its
    own (they moved there from the area they were declared in) keep the component's tightest."""
    demand = {a: r for a, r in last.area_rps.items() if r > 0 and a in geo.area_ms}
    total = sum(demand.values())
    if not total or not objectives.p95_ms:
        return None
    area = max(demand, key=lambda a: (demand[a], a))
    share = demand[area] / total
    wanted = objectives.p95_ms.get(area, min(objectives.p95_ms.values()))
    seen = last.p95_ms.get(area)
    if share < SHIFTED or seen is None or seen < NEAR * wanted:
        return None
    sites = set.intersection(*(set(geo.area_ms[a]) for a in demand))

    def weighted(site: str) -> float:
        return sum(rate * geo.area_ms[a][site] for a, rate in demand.items()) / total

    if geo.site not in sites:
        return None
    here = weighted(geo.site)
    better = sorted((s for s in sites if s != geo.site and weighted(s) <= (1 - GAIN) * here),
                    key=lambda s: (weighted(s), s))  # fmt: skip
    expected = seen - geo.area_ms[area][geo.site] + geo.area_ms[area][better[0]] if better else None
    if expected is None or expected > wanted:
        return None
    state = "breaches" if seen > wanted else "is about to breach"
    return Action("move", component, f"latency:{area}", area=area,
                  reason=f"{share:.0%} of the requests now come from {area}, whose p95 {seen:.0f} ms {state} "
                         f"{wanted:.0f} ms: move to {better[0]}, the centre of demand (network latency weighted by "
                         f"demand {here:.0f} -> {weighted(better[0]):.0f} ms)",
                  data={"p95_ms": seen, "objective_ms": wanted, "share": round(share, 4),
                        "area_rps": dict(sorted(demand.items())), "weighted_ms": round(here, 2),
                        "toward_sites": better, "weighted_ms_there": round(weighted(better[0]), 2),
                        "expected_p95_ms": round(expected, 2)})  # fmt: skip


def _share(last: Sample, area: str) -> float | None:
    """The share of the requests that come from `area` (None: the reading has no per-area rates)."""
    total = sum(last.area_rps.values())
    return last.area_rps.get(area, 0.0) / total if total > 0 else None


def _held_back(past: Sequence[Past], now: float, bounds: Bounds) -> str | None:
    recent = [p.at for p in past if now - p.at < HOUR]
    if recent and now - max(recent) < bounds.cooldown_seconds:
        return f"cooldown: the last action was {now - max(recent):.0f} s ago (< {bounds.cooldown_seconds:g} s)"
    if len(recent) >= bounds.max_actions_per_hour:
        return f"{len(recent)} actions in the last hour, the most allowed"
    return None


def _capacity(samples: Sequence[Sample]) -> float | None:
    """Requests per second one replica serves at full utilisation, from the samples that show load."""
    seen = [s.request_rate / (s.utilisation * s.replicas) for s in samples
            if s.utilisation >= BUSY and s.replicas > 0 and s.request_rate > 0]  # fmt: skip
    return statistics.median(seen) if seen else None


def _latency_breaches(last: Sample, objectives: Objectives) -> list[tuple[str, float, float]]:
    """(area, p95 seen, objective), the worst ratio first."""
    found = [(area, last.p95_ms[area], wanted) for area, wanted in objectives.p95_ms.items()
             if area in last.p95_ms and last.p95_ms[area] > wanted]  # fmt: skip
    return sorted(found, key=lambda f: f[1] / f[2], reverse=True)
