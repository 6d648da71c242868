"""An index over the continuum that lets placement look at a few sites instead of all of them.

Built once per continuum (it is part of the input, like a database index: linear in the number of
sites), it holds, per site, what the filters need (tier, provider, country, features, largest
GPU count) and, per *bucket* of sites sharing a tier, a feature set, whether they have a shared
cluster (where a unit may run without a cluster of its own) and whether they are full
(no free host, no shared cluster): the sites sorted by cost per vCPU-hour, by carbon intensity,
by both together (their weight in the score with the default policy), and by latency to each
user area; and, per user area, the sites within AREA_INDEX_MS of it sorted by cost, by carbon
and by both.

A component's score at a site is at least a non-negative weighted sum of those keys (plus the
penalty for a new cluster, which every site of buckets without a shared cluster pays), so the
threshold algorithm (Fagin et al.) over the sorted lists of the buckets
that can host it yields its sites in increasing score, looking at a few of them: it stops as
soon as the best unseen site is provably worse. Only the buckets whose tier and features fit,
and that are not full, are visited at all."""

from __future__ import annotations

import bisect
import heapq
import math
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from legato.model import Site, Topology
from legato.placement.continuum import Continuum, continuum_of, nearest_ms
from legato.placement.scores import VALUE_CARBON, VALUE_COST
from legato.placement.sites import SitePlanner

AREA_INDEX_MS = 20.0
"""Per user area, the sites within 20 ms of it get sorted lists of their own (by cost, carbon and
both): a unit whose users allow at most that walks only their neighbourhood instead of the whole
continuum's cheapest sites, mostly far from them. 20 ms reaches across a large country from its
main cities; the lists cost memory linear in the sites near each area."""


@dataclass(slots=True)
class SiteInfo:
    id: str
    tier: str
    provider: str
    country: str
    cost: float
    carbon: float
    features: frozenset[str]
    max_gpu: int


@dataclass(slots=True)
class Bucket:
    tier: str
    features: frozenset[str]
    full: bool  # no free host and no shared cluster: nothing new can run there
    shared: bool  # some site of it has a shared cluster: the only place a unit may run without a new one
    sites: list[int] = field(default_factory=list)
    by_cost: list[tuple[float, int]] = field(default_factory=list)
    by_carbon: list[tuple[float, int]] = field(default_factory=list)
    by_value: list[tuple[float, int]] = field(default_factory=list)  # cost and carbon together (`value`)
    by_area: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    # the sites within AREA_INDEX_MS of each area, by cost and by carbon: what a unit pinned near its
    # users walks, instead of the whole continuum's cheapest sites (mostly far from them)
    near_cost: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    near_carbon: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    near_value: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    # the least and the largest of its sites' nearest-site bounds, and the sites below the largest as
    # a bucket of their own (lazy: see `SiteIndex.reach` and `SiteIndex.near_part`)
    nearest: float | None = None
    typical: float | None = None
    part: Bucket | None = None


class SiteIndex:
    """The continuum plus the sorted lists placement walks. Satisfies `Continuum` itself."""

    def __init__(self, continuum: Continuum | Topology):
        continuum = continuum_of(continuum)
        self.continuum = continuum
        self.sites = continuum.sites
        self.areas = continuum.areas
        self.latency = continuum.latency
        self.area_latency = continuum.area_latency
        self.bandwidth = continuum.bandwidth
        self.ids: list[str] = sorted(continuum.sites)
        self.pos: dict[str, int] = {sid: i for i, sid in enumerate(self.ids)}
        self.info: list[SiteInfo] = []
        self._buckets: dict[tuple[str, frozenset[str], bool, bool], Bucket] = {}
        buckets = self._buckets
        self.bucket_of: list[Bucket] = []
        for i, sid in enumerate(self.ids):
            info, key = _describe(continuum.sites[sid])
            self.info.append(info)
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = Bucket(*key)
            bucket.sites.append(i)
            self.bucket_of.append(bucket)
        area_ids = self._area_ids = sorted(continuum.areas)
        # every site's latency to every user area, by position (user areas are few; reading it here
        # is cheaper than asking the continuum again and again)
        self.area_ms: dict[str, array] = {
            area: array("d", (continuum.area_latency(area, sid) for sid in self.ids)) for area in area_ids}
        for bucket in buckets.values():
            self._sort(bucket)
        self._order_buckets()
        # each site's `nearest_ms`, NaN until first asked (latencies never change in place)
        self._nearest = array("d", [math.nan]) * len(self.ids)
        # what capacity planning derives from each site's hosts, once (usage is applied per call)
        self._planners = [SitePlanner(continuum.sites[sid]) for sid in self.ids]

    def _sort(self, bucket: Bucket) -> None:
        """The bucket's sorted lists, from its sites."""
        bucket.by_cost = sorted((self.info[i].cost, i) for i in bucket.sites)
        bucket.by_carbon = sorted((self.info[i].carbon, i) for i in bucket.sites)
        bucket.by_value = sorted((self.value(i), i) for i in bucket.sites)
        for area in self._area_ids:
            ms = self.area_ms[area]
            bucket.by_area[area] = sorted((ms[i], i) for i in bucket.sites)
            near = [i for ms, i in bucket.by_area[area] if ms <= AREA_INDEX_MS]
            bucket.near_cost[area] = sorted((self.info[i].cost, i) for i in near)
            bucket.near_carbon[area] = sorted((self.info[i].carbon, i) for i in near)
            bucket.near_value[area] = sorted((self.value(i), i) for i in near)

    def _order_buckets(self) -> None:
        self.buckets = [self._buckets[k] for k in sorted(self._buckets,
                                                         key=lambda k: (k[0], sorted(k[1]), k[2], k[3]))]

    def refresh(self, site_ids: list[str]) -> None:
        """Take in sites whose hosts or clusters changed (the continuum's `sites` already hold the
        new ones): their capacity planner, features and fullness, moving them between buckets. Cost,
        carbon and coordinates are not re-read: a change of those needs a new index."""
        for sid in site_ids:
            i = self.pos.get(sid)
            if i is None:
                continue
            site = self.continuum.sites[sid]
            self._planners[i] = SitePlanner(site)
            before = self.info[i]
            self.info[i], key = _describe(site)
            old = self.bucket_of[i]
            if (old.tier, old.features, old.full, old.shared) != key:
                self._move(i, before, old, key)

    def _move(self, i: int, info: SiteInfo, old: Bucket, key: tuple[str, frozenset[str], bool, bool]) -> None:
        new = self._buckets.get(key)
        if new is None:
            new = self._buckets[key] = Bucket(*key)
            self._order_buckets()
        old.sites.remove(i)
        bisect.insort(new.sites, i)
        value = VALUE_COST * info.cost + VALUE_CARBON * info.carbon
        for name, v in (("by_cost", info.cost), ("by_carbon", info.carbon), ("by_value", value)):
            getattr(old, name).remove((v, i))
            bisect.insort(getattr(new, name), (v, i))
        for area in self._area_ids:
            ms = self.area_ms[area][i]
            old.by_area[area].remove((ms, i))
            bisect.insort(new.by_area.setdefault(area, []), (ms, i))
            for name, v in (("near_cost", info.cost), ("near_carbon", info.carbon), ("near_value", value)):
                into = getattr(new, name).setdefault(area, [])
                if ms <= AREA_INDEX_MS:
                    getattr(old, name)[area].remove((v, i))
                    bisect.insort(into, (v, i))
        self.bucket_of[i] = new
        for b in (old, new):
            b.nearest = b.typical = b.part = None  # worked out again when next asked

    def nearest_ms(self, i: int) -> float:
        """A lower bound on the latency from site i to any other site (the continuum's, memoised:
        a change of latencies is a change of the topology, which builds a new index)."""
        ms = self._nearest[i]
        if ms != ms:  # NaN: not asked yet
            ms = self._nearest[i] = nearest_ms(self.continuum, self.ids[i])
        return ms

    def reach(self, bucket: Bucket) -> tuple[float, float]:
        """The least and the largest of the bucket's sites' nearest-site bounds. A unit tightly
        linked to one that may not share its site cannot use a site whose bound is farther than
        the link allows: with access delays per tier, every cloud is 9 ms from anything, but for a
        measured link here and there. Worked out once per bucket and index, when first asked."""
        if bucket.nearest is None:
            least, largest = float("inf"), float("-inf")
            for i in bucket.sites:
                ms = self.nearest_ms(i)
                least, largest = min(least, ms), max(largest, ms)
            bucket.nearest, bucket.typical = least, max(least, largest)
        return bucket.nearest, bucket.typical

    def near_part(self, bucket: Bucket) -> Bucket:
        """The bucket's sites nearer to another site than its farthest-off ones (`reach`), as a
        bucket of their own (not in `buckets`): what a unit may still use of a bucket whose usual
        sites are out of its reach. Built once per bucket and index, when first asked."""
        if bucket.part is None:
            typical = self.reach(bucket)[1]
            part = bucket.part = Bucket(bucket.tier, bucket.features, bucket.full, bucket.shared)
            part.sites = [i for i in bucket.sites if self.nearest_ms(i) < typical]
            self._sort(part)
        return bucket.part

    def value(self, i: int) -> float:
        """What a vCPU-hour at site i weighs in the score with the default weights (cost 1, energy
        0.5): 10 × cost + 0.0005 × carbon. With other weights, a multiple of it is a lower bound of
        the cost and energy terms, so one list sorted by it serves every policy."""
        info = self.info[i]
        return VALUE_COST * info.cost + VALUE_CARBON * info.carbon

    def __len__(self) -> int:
        return len(self.ids)

    def planner(self, i: int) -> SitePlanner:
        return self._planners[i]

    def site(self, i: int) -> Site:
        return self.continuum.sites[self.ids[i]]


def _describe(s: Site) -> tuple[SiteInfo, tuple[str, frozenset[str], bool, bool]]:
    """What the filters need of a site, and its bucket key (tier, features, full, shared)."""
    features = frozenset(f for h in s.hosts for f in h.features)
    info = SiteInfo(s.id, str(s.tier), s.provider, s.country, s.cost_per_vcpu_hour, s.carbon_g_per_kwh,
                    features, max((h.gpu for h in s.hosts), default=0))
    shared = any(c.shared for c in s.clusters)
    full = not shared and not any(h.state == "free" for h in s.hosts)
    return info, (info.tier, features, full, shared)


def as_index(continuum: Continuum | Topology | SiteIndex) -> SiteIndex:
    return continuum if isinstance(continuum, SiteIndex) else SiteIndex(continuum)


class OrderedSites:
    """Sites of the given buckets in increasing `score`, lazily (the threshold algorithm).

    `lists` are (weight, per-bucket sorted list, key of a site in that list): the lower bound of a
    site's score is `floor` (a bound of the terms no list is walked for) plus the weighted sum of
    its keys, and `evaluate(i)` returns its exact score (never
    below that bound) or None when the site is ruled out. `area_cutoffs` end the walk early: a
    site farther than the cutoff from an area is infeasible, so once that area's list passes the
    cutoff every feasible site has been seen.

    Memory stays small whatever the number of sites: a site met in one list is known to have been
    met already when another list's position is past its key there (no set of seen sites), and
    only the best `keep` evaluated sites wait in the heap (the rest only lower the frontier)."""

    def __init__(self, buckets: list[Bucket],
                 lists: list[tuple[float, Callable[[Bucket], list], Callable[[int], float]]],
                 evaluate: Callable[[int], float | None], area_cutoffs: dict[int, float] | None = None,
                 keep: int = 128, floor: float = 0.0, budget: int | None = None):
        self.evaluate = evaluate
        self.floor = floor  # a lower bound of the score terms no list is walked for
        self.weights = [w for w, _, _ in lists]
        self.keys = [key for _, _, key in lists]
        self.iters = [heapq.merge(*(get(b) for b in buckets)) for _, get, _ in lists]
        self.cutoffs = area_cutoffs or {}
        self.position: list[tuple[float, int] | None] = [None] * len(lists)
        self.waiting: list[tuple[float, int]] = []  # the best `keep` evaluated sites, sorted
        self.keep = keep
        self.dropped = float("inf")  # the best score dropped from the heap: nothing at or above it is emitted
        self.done = not buckets
        self.cut_by: int | None = None  # the list whose cutoff ended the walk
        self.examined = 0
        self.budget = budget  # sites to examine at most; past it the walk stops, the frontier stays valid
        self.threshold = floor  # a lower bound on the score of every site not met yet in any list

    @property
    def frontier(self) -> float:
        """A lower bound on the score of every site not yet returned."""
        best = self.waiting[0][0] if self.waiting else float("inf")
        return min(best, self.dropped, float("inf") if self.done else self.threshold)

    @property
    def spent(self) -> bool:
        """Stopped short of the end: the examination budget is used up, or every site it could
        still return scores at least what it dropped (so walking on would return nothing; at the
        end of the lists too: a dropped site is never returned)."""
        if self.done:
            return self.dropped < float("inf")
        if self.budget is not None and self.examined >= self.budget:
            return True
        return self.dropped <= self.threshold and (not self.waiting or self.waiting[0][0] >= self.dropped)

    def __iter__(self) -> Iterator[tuple[float, int]]:
        return self

    def __next__(self) -> tuple[float, int]:
        while True:
            spent = self.spent
            if self.waiting:
                score, i = self.waiting[0]
                if score < self.dropped and (self.done or spent or score <= self.threshold):
                    return self.waiting.pop(0)  # when spent: the best seen, no longer proven the best
            if self.done or spent:
                raise StopIteration
            self._advance()

    def _advance(self) -> None:
        position, keys = self.position, self.keys
        for k, it in enumerate(self.iters):
            nxt = next(it, None)
            if nxt is None or (k in self.cutoffs and nxt[0] > self.cutoffs[k]):
                self.done = True  # every site of these buckets (or every feasible one) has been seen
                self.cut_by = k if nxt is not None else None
                return
            position[k] = nxt
            i = nxt[1]
            met = False
            for kk, p in enumerate(position):
                if p is not None and kk != k and (keys[kk](i), i) <= p:
                    met = True  # met already in another list
                    break
            if met:
                continue
            self.examined += 1
            score = self.evaluate(i)
            if score is None:
                continue
            bisect.insort(self.waiting, (score, i))
            if len(self.waiting) > self.keep:
                self.dropped = min(self.dropped, self.waiting.pop()[0])
        self.threshold = self.floor + sum(w * p[0] for w, p in zip(self.weights, self.position, strict=True)
                                          if p is not None)
