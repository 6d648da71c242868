"""A service spec compiled for search: units, edges, scores and each unit's candidate sites.

- A *unit* is a set of components that must share a site (`colocate_with`, transitively); most
  units are one component. Search places units.
- An *edge* joins two units that have links between them: its latency limit is the tightest of
  those links, its bandwidth their sum, its weight the objective's per-millisecond price.
- A unit's *base score* at a site is everything that depends on that site alone: user latency,
  cost, energy/carbon, and the reuse penalty (as if the unit were alone there).

The score terms and their coefficients are in `scores.py`, the hard rules in `rules.py`: a unit
carries its weights (`scores.per_ms`, `cost_weight`, `carbon_weight`), and screening a site asks
the rules that depend on that site alone (user latency, policy, placement rules, hardware; the
capacity by necessary conditions, planned for real by `exact`)."""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from dataclasses import dataclass, field

from legato.model import Component, ServiceSpec
from legato.model.service import PlacementRules
from legato.placement import rules, scores
from legato.placement.index import AREA_INDEX_MS, Bucket, OrderedSites, SiteIndex, SiteInfo
from legato.placement.scores import VALUE_CARBON, VALUE_COST
from legato.placement.sites import EPS, ClusterUsage, Replica, as_usage, pack_into_cluster, replicas_of

EXHAUSTIVE_SITES = 160
"""Up to this many sites, every site is screened for every unit and every one that fits is a
candidate from the start: the search's "optimal" then holds over the whole continuum, and every
rejection is explained by name. Screening is cheap next to the search, so a continuum of this
size (the shipped default topology has 27 sites; an operator's own regional clouds and edges, a
few dozen to a hundred or so) costs little more this way; beyond, the index's ordered streams are
what keep the examined sites few."""

EXAMPLES_PER_REASON = 3
"""Sites a decision names as examples of each rejection reason when the continuum is streamed
(the rest are counted): enough to show an operator which sites a rule excludes, bounded whatever
the size of the continuum."""

FULL = "not enough free capacity: no free host and no shared cluster"

ANCHOR_MS = 25.0
"""A unit without users of its own is anchored to the users of the nearest unit that has some,
through links whose latency limits add up to at most this: within 25 ms (a country's width) its
good sites are near those users whatever its base score says; beyond, the anchor says little and
is not used."""

ANCHOR_BUDGET = 400
"""Sites an anchored stream (a heuristic order: base score plus the link price of the distance to
the anchor's users) examines at most. It only seeds candidates, so it stops early: 400 covers the
sites of a metro area on the bench's 10,000-site continua."""

ANCHOR_KEEP = 32
"""Examined sites an anchored stream keeps waiting in its heap (see `OrderedSites`; the base stream
keeps 128): it seeds a dozen sites at first and at most half a unit's widening later, so a short
heap suffices and the walk stays cheap."""

EXAMINE_BUDGET = 4000
"""Sites a unit's base stream examines at most: past it the stream stops (`spent`) with a valid
frontier, and the unit cannot be proven exhausted. 4,000 is 40% of the largest continua benched,
enough for any unit whose rules leave it a few good sites, and it bounds the time of the
pathological one whose rules leave it none."""


@dataclass(slots=True)
class LinkInfo:
    index: int
    source: str
    target: str
    max_latency_ms: float
    bandwidth_mbps: float


@dataclass(slots=True)
class Edge:
    a: int  # unit indices
    b: int
    weight: float  # objective per ms of latency between the two sites
    max_latency_ms: float
    bandwidth_mbps: float
    links: list[LinkInfo]

    def label(self) -> str:
        link = min(self.links, key=lambda lk: (lk.max_latency_ms, lk.index))
        return f"link {link.source}->{link.target}"


@dataclass(slots=True)
class UnitState:
    """What the search has learnt of a unit's sites so far: its candidates (in the order found,
    each with its base score and whether it reuses a cluster as the unit's only group there), the
    streams that yield more, and the sites rejected and why (for the decision's report). Kept
    apart from the unit's model (`Unit`) because it changes during one search and only there."""

    candidates: list[int] = field(default_factory=list)
    base: dict[int, float] = field(default_factory=dict)
    reuse: dict[int, bool] = field(default_factory=dict)
    stream: OrderedSites | deque | None = None  # the sites not yet examined, in increasing base score
    exhausted: bool = False  # every site that may host the unit is a candidate
    rejected: dict[int, str] = field(default_factory=dict)  # site -> reason (examples when streaming)
    reject_counts: Counter = field(default_factory=Counter)
    examined: int = 0
    buckets: set[int] | None = None  # ids of the index buckets that may host the unit (when streaming)
    parts: list[Bucket] = field(default_factory=list)  # and the near parts of others (`SiteIndex.near_part`)
    partial: set[int] = field(default_factory=set)  # the sites of those parts
    anchored: object = None  # the stream ordered by closeness to the anchor's users
    spent: bool = False  # its stream stopped at the examination budget
    beyond_counted: bool = False  # the sites beyond its stream's latency cutoff are counted as rejected
    explained: int = 0  # sites rejected without being examined one by one (whole buckets, beyond a cutoff)
    closed_by: str = ""  # the link whose reach made every possible site a candidate (`search.certify.close`)


@dataclass(slots=True)
class Unit:
    """Components that share a site, as the spec defines them: their replicas, their users, their
    weights in the score, and what those imply (total vCPU, features, GPUs, replica shapes). The
    search's knowledge of its sites is in `state`."""

    index: int
    components: list[Component]
    replicas: list[Replica]
    areas: list[tuple[str, float, int]]  # (area, tightest max ms, how many user areas weigh it)
    cost_weight: float
    carbon_weight: float
    latency_weight: float  # per user-area ms
    members: tuple[int, ...] = ()  # the units a group searched as one merges (`Problem.merged`)
    state: UnitState = field(default_factory=UnitState)
    cpu: float = field(init=False)
    features: frozenset[str] = field(init=False)
    gpu: int = field(init=False)
    shapes: tuple = field(init=False)
    totals: tuple[float, int, int] = field(init=False)
    ruled: list[Component] = field(init=False)
    capacity_key: str = field(init=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.components]

    @property
    def label(self) -> str:
        return "+".join(self.names)

    def __post_init__(self) -> None:
        self.cpu = sum(c.total_cpu for c in self.components)
        self.features = frozenset(f for c in self.components for f in c.features)
        self.gpu = max(c.gpu for c in self.components)
        self.shapes = tuple(sorted({(r.cpu, r.memory_mb, r.gpu, r.features) for r in self.replicas},
                                   key=lambda s: (s[0], s[1], s[2], sorted(s[3]))))
        self.totals = (sum(r.cpu for r in self.replicas), sum(r.memory_mb for r in self.replicas),
                       sum(r.gpu for r in self.replicas))
        self.ruled = [c for c in self.components if c.placement != PlacementRules()]
        detail = f" with {sorted(self.features)}" if self.features else ""
        self.capacity_key = f"not enough free capacity{detail}"


class Problem:
    def __init__(self, spec: ServiceSpec, index: SiteIndex, usage: ClusterUsage, joint: bool = True):
        """`joint`: every unit is placed, under every rule (`place`). A single move (`search_move`)
        passes False: the others stay where they are, which may break a rule changed since, so
        what their rules forbid says nothing of where the moved one may go (`_out_of_reach`)."""
        self.spec, self.index, self.usage = spec, index, as_usage(usage)
        self.joint = joint
        policy = spec.policy
        self.prefer = policy.prefer_existing_clusters
        self.allowed_providers = set(policy.allowed_providers) if policy.allowed_providers is not None else None
        self.allowed_countries = set(policy.allowed_countries) if policy.allowed_countries is not None else None
        self.max_cost = policy.max_cost_per_hour
        self.min_sites = policy.min_sites
        self.exhaustive = len(index) <= EXHAUSTIVE_SITES

        # units: union-find over colocate_with
        names = [c.name for c in spec.components]
        parent = {n: n for n in names}

        def root(n: str) -> str:
            while parent[n] != n:
                n = parent[n]
            return n

        for c in spec.components:
            for other in c.colocate_with:
                ra, rb = root(c.name), root(other)
                if ra != rb:
                    parent[max(ra, rb, key=names.index)] = min(ra, rb, key=names.index)
        groups: dict[str, list[Component]] = {}
        for c in spec.components:
            groups.setdefault(root(c.name), []).append(c)
        area_of: dict[str, dict[str, tuple[float, int]]] = {n: {} for n in names}
        for ua in spec.user_areas:
            entry = spec.entry_component(ua)
            ms, count = area_of[entry].get(ua.area, (float("inf"), 0))
            area_of[entry][ua.area] = (min(ms, ua.max_latency_ms), count + 1)
        self._area_of = area_of
        self.units: list[Unit] = []
        self.unit_of: dict[str, int] = {}
        for members in groups.values():
            unit = self.merged(members, len(self.units))
            self.units.append(unit)
            for m in members:
                self.unit_of[m.name] = unit.index

        # edges: links between different units, merged per unit pair
        wl = policy.weight_latency
        edges: dict[tuple[int, int], Edge] = {}
        for i, link in enumerate(spec.links):
            a, b = self.unit_of[link.source], self.unit_of[link.target]
            if a == b:
                continue
            key = (min(a, b), max(a, b))
            info = LinkInfo(i, link.source, link.target, link.max_latency_ms, link.bandwidth_mbps)
            edge = edges.get(key)
            if edge is None:
                edges[key] = Edge(key[0], key[1], scores.per_ms(wl), link.max_latency_ms, link.bandwidth_mbps, [info])
            else:
                edge.weight += scores.per_ms(wl)
                edge.max_latency_ms = min(edge.max_latency_ms, link.max_latency_ms)
                edge.bandwidth_mbps += link.bandwidth_mbps
                edge.links.append(info)
        self.edges = [edges[k] for k in sorted(edges)]
        self.neighbours: list[list[tuple[int, Edge]]] = [[] for _ in self.units]
        for e in self.edges:
            self.neighbours[e.a].append((e.b, e))
            self.neighbours[e.b].append((e.a, e))
        self.anti: set[tuple[int, int]] = set()
        for c in spec.components:
            for other in c.anti_affinity:
                a, b = self.unit_of[c.name], self.unit_of[other]
                self.anti.add((min(a, b), max(a, b)))
        if rules.all_apart(self.min_sites, len(self.units)):
            self.anti |= {(a, b) for a in range(len(self.units)) for b in range(a + 1, len(self.units))}
        self._tightest: dict[tuple[int, ...], float] = {}  # see `_start`
        self.latency_cache: dict[int, float] = {}  # site pair (packed: low * sites + high) -> ms
        self._ties: dict[tuple[tuple[int, ...], float], list[tuple[int, Edge]]] = {}  # see `_tied`
        self.n_sites = len(index)

    def merged(self, members: list[Component], index: int, of: tuple[int, ...] = ()) -> Unit:
        """A unit of these components, placed together: their users, their rules, their replicas
        (`of`: the units it merges, for a group of units searched as one)."""
        areas: dict[str, tuple[float, int]] = {}
        for m in members:
            for area, (ms, count) in self._area_of[m.name].items():
                old = areas.get(area, (float("inf"), 0))
                areas[area] = (min(old[0], ms), old[1] + count)
        policy = self.spec.policy
        cpu = sum(m.total_cpu for m in members)
        return Unit(index, members, replicas_of(members), [(a, ms, n) for a, (ms, n) in sorted(areas.items())],
                    cost_weight=scores.cost_weight(policy.weight_cost, cpu),
                    carbon_weight=scores.carbon_weight(policy.weight_energy, cpu),
                    latency_weight=scores.per_ms(policy.weight_latency), members=of)

    # --- continuum lookups (memoised per call) --------------------------------------------------

    def latency(self, i: int, j: int) -> float:
        if i == j:
            return 0.0
        key = i * self.n_sites + j if i < j else j * self.n_sites + i
        ms = self.latency_cache.get(key)
        if ms is None:
            ms = self.latency_cache[key] = self.index.latency(self.index.ids[i], self.index.ids[j])
        return ms

    def bandwidth(self, i: int, j: int) -> float:
        """What links between the two sites may still use: capacity less what others hold there."""
        a, b = self.index.ids[i], self.index.ids[j]
        return self.index.bandwidth(a, b) - self.usage.link(a, b)

    # --- static feasibility and base score -------------------------------------------------------

    def screen(self, unit: Unit, i: int) -> tuple[str, str | None, float, bool]:
        """Everything about site `i` for `unit` that does not depend on where the other units are:
        (reason key, reason or None, user-latency ms, reuses a cluster as it is). Capacity is
        checked by necessary conditions here (exact for reuse); `exact` plans it for real."""
        key, why, lat = self._own(unit, i)
        if why is None and self.joint:
            key, why = self._out_of_reach(unit, i)
        if why is not None:
            return key, why, 0.0, False
        planner = self.index.planner(i)
        for s in unit.shapes:
            if not any(s[0] <= h[0] + EPS and s[1] <= h[1] and s[2] <= h[2] and s[3] <= h[3]
                       for h in planner.shapes):
                return unit.capacity_key, self._capacity_reason(unit, planner), lat, False
        cpu, mem, gpu = unit.totals
        best_cpu, best_gpu = 0.0, 0
        if self.prefer:
            for cluster in planner.clusters:
                room = planner.room(cluster, self.usage)
                if (cpu <= room[0] + EPS and mem <= room[1] and gpu <= room[2]
                        and all(any(s[0] <= n.cpu + EPS and s[1] <= n.memory_mb and s[2] <= n.gpu
                                    and s[3] <= n.features for n in cluster.nodes) for s in unit.shapes)
                        and not pack_into_cluster(unit.replicas, cluster, self.usage)):  # node by node
                    return "", None, lat, True
                best_cpu, best_gpu = max(best_cpu, room[0]), max(best_gpu, room[2])
        if cpu > best_cpu + planner.free_cpu + EPS or gpu > best_gpu + planner.free_gpu:
            return unit.capacity_key, self._capacity_reason(unit, planner), lat, False
        return "", None, lat, False

    def _own(self, unit: Unit, i: int) -> tuple[str, str | None, float]:
        """The unit's own rules at site i: its users' latency, the policy, its placement rules,
        features and GPUs: (reason key, reason or None, user-latency ms)."""
        info = self.index.info[i]
        lat = 0.0
        for area, max_ms, count in unit.areas:
            ms = self.index.area_ms[area][i]
            if not rules.within_latency(ms, max_ms):
                why = f"latency to users in {area} {ms:.4g} ms > {max_ms:g} ms"
                return f"latency to users in {area} > {max_ms:g} ms", why, 0.0
            lat += count * ms
        why = self._site_refusal(unit, info)
        if why is not None:
            return why, why, 0.0
        return "", None, lat

    def _site_refusal(self, unit: Unit, info: SiteInfo) -> str | None:
        """The first of the unit's own rules that the site breaks whatever its load (policy,
        placement rules, features, GPUs), or None. The reason is both the key rejections are grouped
        by and the text shown: it names only the site's own attribute, so sites refused alike group."""
        if not rules.allowed(info.provider, self.allowed_providers):
            return f"provider {info.provider} not allowed by policy"
        if not rules.allowed(info.country, self.allowed_countries):
            return f"country {info.country} not allowed by policy (sovereignty)"
        for c in unit.ruled:
            ruled_out = c.placement.rejects(info.id, info.tier, info.country)
            if ruled_out:
                return ruled_out if len(unit.components) == 1 else f"{c.name}: {ruled_out}"
        if not rules.offers_features(unit.features, info.features):
            return f"lacks features {sorted(unit.features - info.features)}"
        if not rules.offers_gpus(unit.gpu, info.max_gpu):
            return f"no host with {unit.gpu} GPU(s)"
        return None

    def _tiers(self, unit: Unit) -> set[str] | None:
        """The tiers every component of the unit allows (None: any)."""
        tiers: set[str] | None = None
        for c in unit.components:
            if c.placement.tiers is not None:
                tiers = set(c.placement.tiers) if tiers is None else tiers & set(c.placement.tiers)
        return tiers

    def _tied(self, start: tuple[int, ...], ms: float) -> list[tuple[int, Edge]]:
        """The units joined to the `start` units by a path of links each allowing less than `ms`,
        each with the first link of its path: at a site from which every other site is at least
        `ms` away, they all share the start units' site. Memoised."""
        key = (start, ms)
        got = self._ties.get(key)
        if got is None:
            got, seen = [], set(start)
            queue: list[tuple[int, Edge | None]] = [(u, None) for u in start]
            while queue:
                w, first = queue.pop()
                for v, e in self.neighbours[w]:
                    if e.max_latency_ms < ms and v not in seen:
                        seen.add(v)
                        got.append((v, first or e))
                        queue.append((v, first or e))
            self._ties[key] = got
        return got

    def _start(self, unit: Unit) -> tuple[tuple[int, ...], float]:
        """The units a unit stands for (itself, or the group it merges) and the tightest link from
        them to any other unit."""
        start = unit.members or ((unit.index,) if unit.index >= 0 else ())
        tightest = self._tightest.get(start)
        if tightest is None:
            tightest = self._tightest[start] = min((e.max_latency_ms for u in start for v, e in self.neighbours[u]
                                                    if v not in start), default=float("inf"))
        return start, tightest

    def _out_of_reach(self, unit: Unit, i: int) -> tuple[str, str | None]:
        """Why the unit cannot be at site i whatever the others do (reason key, reason or None):
        every other site is farther from i (by the continuum's nearest-site bound) than a link of
        its allows, so the other end must be at i too, and so on along such links; and one of the
        units tied to it that way may not be at i (its own rules there), or two of them may not
        share a site (anti-affinity). Say, a cheap cloud for a unit whose tight chain holds an
        edge-only part: unless a measured link brings another site close, none of them can use it."""
        start, tightest = self._start(unit)
        ms = self.index.nearest_ms(i) if start else 0.0
        if ms <= tightest:
            return "", None
        tied = self._tied(start, ms)
        for v, first in tied:
            other = self.units[v]
            why = self._own(other, i)[1]
            if why is None:
                apart = next((w for w in itertools.chain(start, (t for t, _ in tied))
                              if rules.kept_apart(self.anti, v, w)), None)
                why = None if apart is None else f"anti-affinity with {self.units[apart].label}"
            if why is not None:
                key = self._reach_key(first, other)
                return key, f"{key} ({other.label}: {why})"
        return "", None

    def _reach_key(self, first: Edge, other: Unit) -> str:
        return (f"{first.label()}: no other site within {first.max_latency_ms:g} ms, and {other.label} may not be "
                "here")

    def _bucket_out_of_reach(self, unit: Unit, b: Bucket, ms: float) -> str | None:
        """`_out_of_reach` for every site of an index bucket whose nearest-site bound is at least
        `ms` at once, by what the bucket says of its sites (tier, features)."""
        start, tightest = self._start(unit)
        if not start or ms <= tightest:
            return None
        tied = self._tied(start, ms)
        everyone = list(start) + [t for t, _ in tied]
        for v, first in tied:
            other = self.units[v]
            tiers = self._tiers(other)
            if ((tiers is not None and b.tier not in tiers) or not rules.offers_features(other.features, b.features)
                    or any(rules.kept_apart(self.anti, v, w) for w in everyone)):
                return self._reach_key(first, other)
        return None

    def nearest(self, i: int) -> float:
        """A lower bound on the latency from site i to any other site."""
        return self.index.nearest_ms(i)

    def _capacity_reason(self, unit: Unit, planner) -> str:
        return f"{unit.capacity_key}: needs {unit.cpu:g} vCPU, {planner.free_cpu:g} vCPU free in hosts"

    def base_score(self, unit: Unit, i: int, reuse: bool, user_ms: float | None = None) -> float:
        info = self.index.info[i]
        if user_ms is None:
            user_ms = 0.0
            for area, _, count in unit.areas:
                user_ms += count * self.index.area_ms[area][i]
        return scores.site_score(unit.latency_weight, user_ms, unit.cost_weight, info.cost, unit.carbon_weight,
                                 info.carbon, reuse, len(unit.components))

    def evaluate(self, unit: Unit, i: int) -> float | None:
        """Lower bound of the unit's base score at `i` (exact unless packing fails), or None."""
        key, why, user_ms, reuse = self.screen(unit, i)
        if why is not None:
            self._reject(unit, i, key, why)
            return None
        return self.base_score(unit, i, reuse, user_ms)

    def _reject(self, unit: Unit, i: int, key: str, why: str) -> None:
        unit.state.reject_counts[key] += 1
        if self.exhaustive or unit.state.reject_counts[key] <= EXAMPLES_PER_REASON:
            unit.state.rejected[i] = why

    def exact(self, unit: Unit, i: int) -> tuple[bool, bool]:
        """(fits, reuses a cluster) from the real site plan of the unit alone."""
        plan, why = self.index.planner(i).plan(unit.names, unit.replicas, self.usage, self.prefer)
        if plan is None:
            self._reject(unit, i, why.split(":")[0], why)
            return False, False
        return True, plan.action == "reuse"

    # --- candidate generation ---------------------------------------------------------------------

    def open_stream(self, unit: Unit, budget: int = EXAMINE_BUDGET) -> None:
        """The unit's sites in increasing base score: all of them, screened, on a small continuum
        (or its own list of sites); else a lazy walk of the index buckets that may host it (in a
        joint placement, not those out of reach of its tight links: `_bucket_out_of_reach`)."""
        index = self.index
        explicit: set[str] | None = None
        for c in unit.components:
            if c.placement.sites is not None:
                explicit = set(c.placement.sites) if explicit is None else explicit & set(c.placement.sites)
        if self.exhaustive or explicit is not None:
            pool = range(len(index)) if explicit is None else sorted(index.pos[s] for s in explicit if s in index.pos)
            if explicit is not None and not self.exhaustive:
                for s in sorted(explicit - set(index.pos)):
                    unit.state.reject_counts[f"unknown site '{s}'"] += 1
                outside = len(index) - len(pool)
                if outside:
                    unit.state.reject_counts["not among the component's sites"] += outside
                    unit.state.explained += outside
            scored = []
            for i in pool:
                score = self.evaluate(unit, i)
                if score is not None:
                    scored.append((score, i))
            unit.state.examined = len(pool)
            scored.sort()
            unit.state.stream = deque(scored)
            return
        tiers = self._tiers(unit)
        features = unit.features
        buckets: list[Bucket] = []
        unit.state.buckets, unit.state.parts, unit.state.partial = set(), [], set()
        for b in index.buckets:
            part = None
            if tiers is not None and b.tier not in tiers:
                why = f"tier {b.tier} not in the component's tiers {sorted(tiers)}"
            elif not rules.offers_features(features, b.features):
                why = f"lacks features {sorted(features - b.features)}"
            elif b.full:
                why = FULL
            elif not self.joint or self._start(unit)[1] == float("inf"):
                why = None  # a single move, or no link to reach across
            else:  # out of reach of its tight links: the whole bucket, or all but its near part
                least, typical = index.reach(b)
                why = self._bucket_out_of_reach(unit, b, least)
                if why is None and typical > least:
                    why = self._bucket_out_of_reach(unit, b, typical)
                    part = index.near_part(b) if why is not None else None
            if why is None:
                buckets.append(b)
                unit.state.buckets.add(id(b))
                continue
            rejected = len(b.sites)
            if part is not None and part.sites:
                buckets.append(part)
                unit.state.parts.append(part)
                unit.state.partial.update(part.sites)
                rejected -= len(part.sites)
            unit.state.reject_counts[why] += rejected
            unit.state.explained += rejected
        lists: list[tuple[float, object, object]] = []
        cutoffs: dict[int, float] = {}
        for area, max_ms, count in unit.areas:
            cutoffs[len(lists)] = max_ms
            lists.append((unit.latency_weight * count, lambda b, a=area: b.by_area[a],
                          index.area_ms[area].__getitem__))
        # a site of a bucket without a shared cluster needs a new cluster: its penalty is in the score
        penalty = scores.new_cluster_penalty(len(unit.components))
        floor = 0.0 if self.prefer and any(b.shared for b in buckets) else penalty
        if lists and unit.areas[0][1] <= AREA_INDEX_MS:  # users pin the unit near them: their neighbourhood only
            lists += self._penalised(self._value_lists(unit, near=unit.areas[0][0]), penalty - floor)
        elif lists:  # walk only the area lists, cost and carbon at their minimum
            floor += self._floor(unit, buckets)
        else:
            lists += self._penalised(self._value_lists(unit), penalty - floor)
        unit.state.stream = OrderedSites(buckets, lists, lambda i: self.evaluate(unit, i), cutoffs, floor=floor,
                                   budget=budget)

    def _penalised(self, lists: list[tuple[float, object, object]], penalty: float) -> list:
        """The value list with `penalty` (in score) added to the key of every site of a bucket
        without a shared cluster: the order walks those sites as late as that penalty allows, and
        the threshold still bounds every unseen site's score from below (a site not met yet in this
        list has at least the list's key plus its bucket's penalty). Area lists are left as they
        are: their cutoffs read real milliseconds."""
        [(weight, get, key)] = lists
        if not penalty or weight <= 0 or not self.prefer:
            return lists
        shift = penalty / weight
        bucket_of = self.index.bucket_of

        def shifted(b: Bucket):
            return get(b) if b.shared else ((k + shift, i) for k, i in get(b))

        return [(weight, shifted, lambda i: key(i) + (0.0 if bucket_of[i].shared else shift))]

    def take(self, unit: Unit, n: int) -> int:
        """Extend the unit's candidates by up to `n` sites that really fit, in increasing base score."""
        if unit.state.stream is None:
            self.open_stream(unit)
        added = 0
        stream = unit.state.stream
        while added < n:
            if isinstance(stream, deque):
                if not stream:
                    unit.state.exhausted = True
                    break
                score, i = stream.popleft()
            else:
                nxt = next(stream, None)
                if nxt is None:
                    unit.state.exhausted = not stream.spent
                    unit.state.spent = stream.spent
                    if stream.cut_by is not None and not unit.state.beyond_counted:
                        area, max_ms, _ = unit.areas[stream.cut_by]
                        unit.state.beyond_counted = True
                        beyond = sum(len(b.sites) for b in self.index.buckets if id(b) in unit.state.buckets)
                        beyond += len(unit.state.partial)
                        beyond -= stream.examined
                        if beyond > 0:
                            unit.state.reject_counts[f"latency to users in {area} > {max_ms:g} ms"] += beyond
                            unit.state.explained += beyond
                    break
                score, i = nxt
            if i in unit.state.base:
                continue
            fits, reuse = self.exact(unit, i)
            if not fits:
                continue
            unit.state.candidates.append(i)
            unit.state.base[i] = self.base_score(unit, i, reuse)
            unit.state.reuse[i] = reuse
            added += 1
        if isinstance(stream, OrderedSites):
            unit.state.examined = stream.examined
        elif not stream:
            unit.state.exhausted = True
        return added

    # --- candidates near the users a unit is chained to -----------------------------------------

    def anchor(self, unit: Unit) -> list[tuple[str, float, float]]:
        """For a unit without users of its own, the user areas of the closest unit that has some,
        through links whose latency limits add up to at most ANCHOR_MS: [(area, weight per ms,
        reach in ms)]. In a continuum where latency grows with distance the unit's good sites are
        near those users, whatever its base score says."""
        if unit.areas:
            return []
        heap = [(0.0, unit.index, 0.0)]
        seen = {unit.index}
        while heap:
            dist, v, weight = heapq.heappop(heap)
            if v != unit.index and self.units[v].areas:
                return [(area, weight, dist + max_ms) for area, max_ms, _ in self.units[v].areas]
            for w, e in self.neighbours[v]:
                if w not in seen and dist + e.max_latency_ms <= ANCHOR_MS:
                    seen.add(w)
                    heapq.heappush(heap, (dist + e.max_latency_ms, w, weight or e.weight))
        return []

    def take_anchored(self, unit: Unit, n: int) -> int:
        """Extend the unit's candidates by up to `n` sites in increasing base score plus the link
        price of their distance to the anchor's users (a heuristic order; bounds use the base one)."""
        if unit.state.anchored is None:
            anchor = self.anchor(unit)
            if not anchor or unit.state.buckets is None:
                unit.state.anchored = iter(())
            else:
                index = self.index
                area_ms = index.area_ms
                buckets = [b for b in index.buckets if id(b) in unit.state.buckets] + unit.state.parts
                lists: list = [(w, lambda b, a=area: b.by_area[a], area_ms[area].__getitem__)
                               for area, w, _ in anchor]
                cutoffs = {k: reach for k, (_, _, reach) in enumerate(anchor)}
                lists += self._value_lists(unit)

                def score(i: int) -> float | None:
                    _, why, user_ms, reuse = self.screen(unit, i)
                    if why is not None:
                        return None
                    return self.base_score(unit, i, reuse, user_ms) + sum(
                        w * area_ms[area][i] for area, w, _ in anchor)

                unit.state.anchored = OrderedSites(buckets, lists, score, cutoffs, keep=ANCHOR_KEEP,
                                                   budget=ANCHOR_BUDGET)
        added = 0
        for _, i in unit.state.anchored:
            if i not in unit.state.base and self.add_candidate(unit, i):
                added += 1
                if added >= n:
                    break
        return added

    def _value_lists(self, unit: Unit, near: str | None = None) -> list[tuple[float, object, object]]:
        """The sorted lists that bound the cost and energy terms: one list by `value` when both
        weigh (its multiple `scale` is a lower bound of both terms, exact with the default
        weights), else the list of the one that weighs. `near`: only the sites near that area."""
        info, value = self.index.info, self.index.value
        scale = min(unit.cost_weight / VALUE_COST, unit.carbon_weight / VALUE_CARBON)
        if scale > 0:
            if near is None:
                return [(scale, lambda b: b.by_value, value)]
            return [(scale, lambda b: b.near_value[near], value)]
        if unit.carbon_weight > 0:
            if near is None:
                return [(unit.carbon_weight, lambda b: b.by_carbon, lambda i: info[i].carbon)]
            return [(unit.carbon_weight, lambda b: b.near_carbon[near], lambda i: info[i].carbon)]
        if near is None:
            return [(unit.cost_weight, lambda b: b.by_cost, lambda i: info[i].cost)]
        return [(unit.cost_weight, lambda b: b.near_cost[near], lambda i: info[i].cost)]

    def _floor(self, unit: Unit, buckets: list[Bucket]) -> float:
        cost = min((b.by_cost[0][0] for b in buckets if b.by_cost), default=0.0)
        carbon = min((b.by_carbon[0][0] for b in buckets if b.by_carbon), default=0.0)
        return unit.cost_weight * cost + unit.carbon_weight * carbon

    def may_host(self, unit: Unit):
        """A cheap filter of site ids (the buckets its stream walks: tier, features, not full, in
        reach), for range queries."""
        if unit.state.buckets is None:
            return None
        allowed, partial, pos, bucket_of = unit.state.buckets, unit.state.partial, self.index.pos, self.index.bucket_of
        return lambda sid: id(bucket_of[pos[sid]]) in allowed or pos[sid] in partial

    def frontier(self, unit: Unit) -> float:
        """Lower bound of the base score of every site not among the unit's candidates."""
        if unit.state.exhausted:
            return float("inf")
        stream = unit.state.stream
        if isinstance(stream, deque):
            return stream[0][0] if stream else float("inf")
        return stream.frontier if stream is not None else 0.0

    def cost_floor(self, unit: Unit) -> float:
        """The least cost per hour of the unit at any site that may host it: its cheapest candidate
        once every possible site is one, else the cheapest site of the index buckets it may use."""
        if unit.state.exhausted or unit.state.buckets is None:
            return min(self.index.info[i].cost for i in unit.state.candidates) * unit.cpu
        state = unit.state
        return min((b.by_cost[0][0] for b in [*self.index.buckets, *state.parts]
                    if (id(b) in state.buckets or b in state.parts) and b.by_cost), default=float("inf")) * unit.cpu

    def add_candidate(self, unit: Unit, i: int) -> bool:
        """A site found near a neighbour (outside the base-score order); False if it cannot host the unit."""
        if i in unit.state.base:
            return True
        if self.screen(unit, i)[1] is not None:
            return False
        fits, reuse = self.exact(unit, i)
        if not fits:
            return False
        unit.state.candidates.append(i)
        unit.state.base[i] = self.base_score(unit, i, reuse)
        unit.state.reuse[i] = reuse
        return True
