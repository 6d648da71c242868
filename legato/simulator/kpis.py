"""KPIs derived from the simulated continuum, never scripted: the load (load.py) routed to ready
replicas, queued, served or refused.

At instants spread evenly over the window (one per sim minute, at least SAMPLES, at most
MAX_SAMPLES, so a compressed day's flash crowd is not stepped over):

- **routing**: the users of an area go to the workload of their entry component nearest to the
  area they are in (the topology's area latency) among those with a ready replica, as DNS or
  anycast steering does; a component linked from others gets one call per request they admit,
  sent from the caller's site to its nearest ready workload. Nothing ready anywhere: the requests
  go to the nearest workload and fail there (its users see errors, no latency).
- **utilisation** = rate x CPU-seconds per request / (ready replicas x CPU per replica). Only ready
  replicas count: one starting or being replaced serves nothing.
- **errors**: beyond utilisation 1 the excess share fails (1 - 1/utilisation: capacity is all that
  gets served), and the injected rate of each ready replica's version (`set_error_rate`) fails
  its share of the rest.
- **latency**: each ready replica is an M/M/1 queue of its share of the requests (a Kubernetes
  Service spreads requests over pods and each pod queues its own, so it is n queues, not one
  M/M/c queue), served at cpu / cost requests per second. An M/M/1 FCFS response time is
  exponential with rate mu (1 - rho): its p95 is ln 20 / (mu (1 - rho)). Past RHO_MAX the queue
  is as long as it gets: the served requests wait that long and the excess is refused. A user
  sees the area-to-site network latency on top.

Over the window: rates and utilisation are the mean of the instants, the error rate is failed over
offered, and an area's p95 is the 95th percentile of the mixture of the instants' response times,
each weighted by the requests it served.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from legato.adapters.errors import InvalidRequest
from legato.model import Topology
from legato.model.telemetry import AreaKpis, ComponentKpis, WorkloadToMeasure
from legato.simulator.load import LoadModel, LoadPart, load_model

DEFAULT_CPU_SECONDS = 0.01  # a small web request: 10 ms of one core
SAMPLES = 12
MAX_SAMPLES = 1440
STEP = 60.0  # sim seconds between instants, where the bounds allow
RHO_MAX = 0.95
P95 = math.log(20)  # -ln(1 - 0.95)


@dataclass(frozen=True)
class Workload:
    """What the simulator holds of one deployed component: its size, cost and replicas' lives."""

    cpu: float
    cost: float
    spans: tuple[tuple[float, float, float | None, str], ...]  # (created_at, ready_at, removed_at, version)
    born: float  # when its first replica was created: before that no user was sent to it

    def ready(self, t: float) -> list[str]:
        """The versions of the replicas ready at t."""
        return [v for created, ready, removed, v in self.spans
                if created <= t and ready <= t and (removed is None or removed > t)]  # fmt: skip


@dataclass
class Instant:
    """One workload at one instant."""

    offered: float = 0.0
    ready: int = 0
    utilisation: float | None = None
    error: float = 0.0
    admitted: float = 0.0
    rate: float | None = None  # of the exponential response time, per second; None: nothing serves
    by_area: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def workload(db: sqlite3.Connection, d: WorkloadToMeasure, since: float, until: float) -> Workload | None:
    """Its replicas alive at some point of [since, until] only: a long history costs nothing."""
    row = db.execute("SELECT cpu FROM workloads WHERE cluster = ? AND id = ? AND service_id = ? AND component = ?",
                     (d.cluster, d.workload_id, d.service_id, d.component)).fetchone()
    if row is None:
        return None
    cost = db.execute("SELECT cpu_seconds FROM request_costs WHERE service_id = ? AND component = ?",
                      (d.service_id, d.component)).fetchone()
    args = {"c": d.cluster, "w": d.workload_id, "since": since, "until": until}
    spans = db.execute("SELECT created_at, ready_at, removed_at, version FROM replicas WHERE cluster = :c AND "
                       "workload = :w AND created_at <= :until AND (removed_at IS NULL OR removed_at > :since)",
                       args).fetchall()
    born = db.execute("SELECT MIN(created_at) FROM replicas WHERE cluster = :c AND workload = :w", args).fetchone()[0]
    return Workload(row["cpu"], cost[0] if cost else DEFAULT_CPU_SECONDS, tuple(tuple(s) for s in spans),
                    -math.inf if born is None else born)


def ordered(upstream: dict[str, list[str]]) -> list[str]:
    """Components so that each comes after those calling it; an edge closing a cycle is skipped
    (its calls are not counted)."""
    done: set[str] = set()
    path: set[str] = set()
    out: list[str] = []

    def visit(name: str) -> None:
        if name in done or name in path:
            return
        path.add(name)
        for caller in upstream.get(name, []):
            if caller in upstream:
                visit(caller)
        path.discard(name)
        done.add(name)
        out.append(name)

    for name in upstream:
        visit(name)
    return out


class Derivation:
    """The instants of one query: the deployed components, what the simulator holds of each."""

    def __init__(self, topology: Topology, model: LoadModel, deployed: list[WorkloadToMeasure],
                 held: list[Workload | None], error_rates: dict[str, float]) -> None:
        self.topology, self.model, self.deployed, self.held = topology, model, deployed, held
        self.error_rates = error_rates
        self.groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, d in enumerate(deployed):
            self.groups[(d.service_id, d.component)].append(i)
        # the same at every instant: who declares which area (origin, demand, its entries), who calls whom
        self.origins: list[tuple[str, float, list[int]]] = []
        for members in self.groups.values():
            declared: dict[str, float] = {}
            for i in members:
                for a in deployed[i].areas:
                    declared.setdefault(a.area, a.demand_rps)
            self.origins += [(origin, rps, [i for i in members if any(a.area == origin for a in deployed[i].areas)])
                             for origin, rps in declared.items()]  # fmt: skip
        services: dict[str, dict[str, list[str]]] = defaultdict(dict)
        for (service, component), members in self.groups.items():
            services[service][component] = sorted({u for i in members for u in deployed[i].upstream})
        self.calls = [(members, [j for caller in upstream[component] for j in self.groups.get((service, caller), [])])
                      for service, upstream in services.items() for component in ordered(upstream)
                      for members in [self.groups[(service, component)]]]  # fmt: skip

        self.latencies: dict[tuple[str, str, str], float] = {}

    def area_ms(self, area: str, site: str) -> float:
        return self._latency("area", area, site)

    def site_ms(self, a: str, b: str) -> float:
        return self._latency("site", a, b)

    def _latency(self, kind: str, a: str, b: str) -> float:
        """Looked up once a reading (the topology's model may compute it); unknown: infinitely far."""
        key = (kind, a, b)
        if key not in self.latencies:
            try:
                self.latencies[key] = (self.topology.area_latency if kind == "area" else self.topology.latency)(a, b)
            except KeyError:
                self.latencies[key] = math.inf
        return self.latencies[key]

    def route(self, candidates: list[int], now: list[Instant], t: float,
              distance: Callable[[int], float]) -> int | None:
        """The nearest candidate with a ready replica; none ready: the nearest (where they fail).
        None when none existed yet at t (the service was not there to be asked)."""
        known = [i for i in candidates if (w := self.held[i]) is not None and w.born <= t]
        ready = [i for i in known if now[i].ready > 0]
        pool = ready or known
        return min(pool, key=lambda i: (distance(i), i)) if pool else None

    def at(self, t: float) -> list[Instant]:
        now = [Instant(ready=len(w.ready(t)) if w else 0) for w in self.held]
        sim_t = self.model.clock.sim(t)
        for origin, rps, entries in self.origins:
            for area, demand in self.model.demand(origin, rps, sim_t).items():
                i = self.route(entries, now, t, lambda j, area=area: self.area_ms(area, self.deployed[j].site))
                if i is not None:
                    now[i].offered += demand
                    now[i].by_area[area] += demand
        for members, callers in self.calls:
            for j in callers:
                if now[j].admitted > 0:
                    src = self.deployed[j].site
                    k = self.route(members, now, t, lambda m, src=src: self.site_ms(src, self.deployed[m].site))
                    if k is not None:
                        now[k].offered += now[j].admitted
            for i in members:
                self.serve(i, now[i], t)
        return now

    def serve(self, i: int, now: Instant, t: float) -> None:
        held = self.held[i]
        if held is None:
            return
        if now.ready == 0:
            now.error = 1.0 if now.offered > 0 else 0.0
            return
        per_replica = held.cpu / held.cost  # requests per second one replica serves at full CPU
        rho = now.offered / (now.ready * per_replica)
        excess = 1.0 - 1.0 / rho if rho > 1 else 0.0
        versions = held.ready(t)
        injected = sum(self.error_rates.get(v, 0.0) for v in versions) / len(versions)
        now.utilisation = rho
        now.error = excess + (1.0 - excess) * injected
        now.admitted = now.offered * (1.0 - excess)
        now.rate = per_replica * (1.0 - min(rho, RHO_MAX))


def quantile(weights: list[float], rates: list[float], q: float) -> float:
    """The q-quantile (seconds) of a mixture of exponentials with these rates and weights."""
    total = sum(weights)
    low, high = 0.0, max(-math.log(1 - q) / r for r in rates)
    for _ in range(60):
        mid = (low + high) / 2
        cdf = sum(w * (1 - math.exp(-r * mid)) for w, r in zip(weights, rates, strict=True)) / total
        low, high = (mid, high) if cdf < q else (low, mid)
    return high


def summary(d: WorkloadToMeasure, held: Workload | None, instants: list[Instant], topology: Topology,
            since: float, until: float) -> ComponentKpis:
    base = ComponentKpis(service_id=d.service_id, component=d.component, cluster=d.cluster,
                         workload_id=d.workload_id, site=d.site, since=since, until=until)
    if held is None:
        return base
    offered = sum(n.offered for n in instants)
    busy = [n.utilisation for n in instants if n.utilisation is not None]
    areas: dict[str, AreaKpis] = {}
    for area in sorted({a for n in instants for a in n.by_area}):
        served = [(n.by_area.get(area, 0.0) * (1 - n.error), n.rate) for n in instants if n.rate is not None]
        served = [(w, r) for w, r in served if w > 0]
        try:
            network = topology.area_latency(area, d.site)
        except KeyError:
            network = None
        p95 = None
        if served and network is not None:
            p95 = network + 1000 * quantile([w for w, _ in served], [r for _, r in served], 0.95)
        areas[area] = AreaKpis(request_rate_rps=sum(n.by_area.get(area, 0.0) for n in instants) / len(instants),
                               latency_p95_ms=p95)
    return base.model_copy(update={
        "request_rate_rps": offered / len(instants),
        "error_rate": min(1.0, sum(n.offered * n.error for n in instants) / offered) if offered > 0 else None,
        "cpu_utilisation": sum(busy) / len(busy) if busy else None,
        "ready_replicas": len(held.ready(until)),
        "areas": areas,
    })  # fmt: skip


class KpiPart(LoadPart):
    def component_kpis(self, deployed: list[WorkloadToMeasure], window_seconds: float,
                       until: float | None = None) -> list[ComponentKpis]:
        """Each deployed component's KPIs over the `window_seconds` (real) ending at `until` (default
        now), in the order asked; all None for a workload the simulator does not hold."""
        if not 0 < window_seconds <= 7 * 86400:
            raise InvalidRequest(f"window_seconds must be > 0 and at most a week, not {window_seconds:g}")
        end = time.time() if until is None else until
        since = end - window_seconds
        with self._read() as db:
            topology = self._topology(db)
            model = load_model(db, topology)
            held = [workload(db, d, since, end) for d in deployed]
            rates = {r["version"]: r["rate"] for r in db.execute("SELECT version, rate FROM error_rates")}
        derivation = Derivation(topology, model, deployed, held, rates)
        count = min(MAX_SAMPLES, max(SAMPLES, math.ceil(window_seconds * model.clock.factor / STEP)))
        times = [since + (k + 0.5) * window_seconds / count for k in range(count)]
        instants = [derivation.at(t) for t in times]
        return [summary(d, held[i], [s[i] for s in instants], topology, since, end) for i, d in enumerate(deployed)]
