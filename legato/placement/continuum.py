"""What placement needs to know about the continuum, without dense site-by-site matrices.

`Continuum` is the engine's input protocol: the sites (with hosts and clusters), the user areas,
and three functions of latency and bandwidth. `Topology` (dense matrices, from the loader and the
inventory) satisfies it as it is. `GeoContinuum` is an implementation for large continua: latency
from coordinates and each site's access (last-mile) delay, with sparse overrides where a measured
value differs, and bandwidth from per-tier uplinks and region-pair capacities, again with sparse
overrides. Its memory is linear in the number of sites, so 10,000 sites need no 10^8-entry matrix.

An implementation may also answer range queries: all sites within a latency of a site
(`sites_near`), the same nearest first (`sites_by_latency`), and a lower bound on the latency from
a site to any other (`nearest_ms`). The engine uses them, when present, to find sites close to a
neighbour's and to prove that no unexamined site could do better; without them it scans (fine for
small dense topologies). `count_near` says how many sites such a query would look at, before
running it."""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol, runtime_checkable

from legato.model import Site, Tier, Topology, UserAreaDef

EARTH_RADIUS_KM = 6371.0


@runtime_checkable
class Continuum(Protocol):
    """The engine's view of the continuum. Latencies are one-way milliseconds, symmetric."""

    sites: Mapping[str, Site]
    areas: Mapping[str, UserAreaDef]

    def latency(self, a: str, b: str) -> float: ...

    def area_latency(self, area: str, site: str) -> float: ...

    def bandwidth(self, a: str, b: str) -> float: ...


def sites_near(continuum: Continuum, site: str, max_ms: float,
               where: Callable[[str], bool] | None = None) -> Iterator[str]:
    """Every site within `max_ms` of `site` (itself included) that passes `where` (a cheap filter,
    applied before any latency is computed): the continuum's own range query when it has one,
    else a scan (fine for the small dense topologies)."""
    own = getattr(continuum, "sites_near", None)
    if own is not None:
        yield from own(site, max_ms, where)
        return
    latency = continuum.latency
    for other in continuum.sites:
        if (where is None or where(other)) and latency(site, other) <= max_ms:
            yield other


def sites_by_latency(continuum: Continuum, site: str, max_ms: float,
                     where: Callable[[str], bool] | None = None,
                     limit: Callable[[], float] | None = None,
                     cost_cap: Callable[[float, float], float] | None = None) -> Iterator[tuple[float, str]]:
    """(ms, site) for every site within `max_ms` of `site` that passes `where`, nearest first: the
    continuum's own ordered range query when it has one, else a sorted scan (small topologies).
    A caller looking for the best site by score + weight × latency stops as soon as the latency
    alone rules out the rest, so it looks at the neighbourhood, not the continuum; `limit` (the
    latency beyond which nothing interests it any more, as it learns) lets the query stop too, and
    `cost_cap(min carbon, min ms)` (the cost per vCPU-hour from which a site of a group whose least
    carbon and latency are those is of no interest) lets it pass over the dear part of a group of
    sites without looking at them one by one."""
    own = getattr(continuum, "sites_by_latency", None)
    if own is not None:
        yield from own(site, max_ms, where, limit, cost_cap)
        return
    latency = continuum.latency
    yield from sorted((ms, other) for other in continuum.sites
                      if (where is None or where(other)) and (ms := latency(site, other)) <= max_ms)


def nearest_ms(continuum: Continuum, site: str) -> float:
    """A lower bound on the latency from `site` to any other site: the continuum's own answer when
    it has one, else a scan (fine for the small dense topologies)."""
    own = getattr(continuum, "nearest_ms", None)
    if own is not None:
        return own(site)
    latency = continuum.latency
    return min((latency(site, other) for other in continuum.sites if other != site), default=float("inf"))


def _unit(lat: float, lon: float) -> tuple[float, float, float]:
    p, lam = math.radians(lat), math.radians(lon)
    return (math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p))


def _km(u: tuple[float, float, float], v: tuple[float, float, float]) -> float:
    chord = math.sqrt((u[0] - v[0]) ** 2 + (u[1] - v[1]) ** 2 + (u[2] - v[2]) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, chord / 2))


DEFAULT_ACCESS_MS = {Tier.far_edge: 1.0, Tier.edge: 2.0, Tier.regional: 4.0, Tier.cloud: 8.0}
"""Each site's access (last-mile and internal) delay by tier, added at both ends of a path: a far
edge sits on the access network, a cloud behind its region's peering and fabric. The same defaults
as the topology loader's latency model."""

DEFAULT_UPLINK_MBPS = {Tier.far_edge: 2_000.0, Tier.edge: 10_000.0, Tier.regional: 40_000.0, Tier.cloud: 100_000.0}
"""Each site's uplink by tier; a pair of sites gets the smaller of its two, capped by the region
pair's capacity when one is given."""

GRID_DEGREES = 1.0
"""The cell size of the range queries' grid, in degrees of latitude and longitude (about 111 by
70 km in Europe, where 1 ms of fibre covers 100 km): a tight link's reach spans a few cells, so a
query reads a few cells' sites, and the grid stays small (one list per populated cell)."""


class GeoContinuum:
    """Latency = great-circle distance × `per_100km_ms` / 100 + both ends' access delay, unless a
    sparse override says otherwise; bandwidth = the smaller uplink of the two sites, capped by the
    region pair's capacity, unless overridden. The same model as the topology loader's defaults,
    computed on demand instead of stored."""

    def __init__(
        self,
        sites: Mapping[str, Site],
        areas: Mapping[str, UserAreaDef],
        *,
        per_100km_ms: float = 1.0,
        access_ms: Mapping[Tier, float] | None = None,
        uplink_mbps: Mapping[Tier, float] | None = None,
        region_mbps: Mapping[frozenset[str], float] | None = None,
        site_latency_overrides: Mapping[tuple[str, str], float] | None = None,
        area_latency_overrides: Mapping[tuple[str, str], float] | None = None,
        bandwidth_overrides: Mapping[tuple[str, str], float] | None = None,
    ):
        self.sites = sites
        self.areas = areas
        self.per_100km_ms = per_100km_ms
        self.access_ms = dict(access_ms or DEFAULT_ACCESS_MS)
        self.uplink_mbps = dict(uplink_mbps or DEFAULT_UPLINK_MBPS)
        self.region_mbps = dict(region_mbps or {})
        self._pos = {sid: _unit(s.lat, s.lon) for sid, s in sites.items()}
        self._access = {sid: self.access_ms[s.tier] for sid, s in sites.items()}
        self._area_pos = {aid: _unit(a.lat, a.lon) for aid, a in areas.items()}
        self._site_over: dict[str, dict[str, float]] = {}
        for (a, b), ms in (site_latency_overrides or {}).items():
            self._site_over.setdefault(a, {})[b] = ms
            self._site_over.setdefault(b, {})[a] = ms
        self._area_over: dict[str, dict[str, float]] = {}
        for (area, site), ms in (area_latency_overrides or {}).items():
            self._area_over.setdefault(area, {})[site] = ms
        self._bw_over: dict[tuple[str, str], float] = {}
        for (a, b), mbps in (bandwidth_overrides or {}).items():
            self._bw_over[(a, b)] = self._bw_over[(b, a)] = mbps
        self._grid: dict[tuple[int, int], list[str]] = {}
        for sid, s in sites.items():
            self._grid.setdefault(self._cell(s.lat, s.lon), []).append(sid)
        self._min_access = min(self._access.values(), default=0.0)
        self._cost = {sid: s.cost_per_vcpu_hour for sid, s in sites.items()}
        for members in self._grid.values():
            members.sort(key=lambda sid: (self._cost[sid], sid))
        self._cell_costs = {cell: [self._cost[sid] for sid in members] for cell, members in self._grid.items()}
        self._cell_min = {cell: (min(sites[sid].cost_per_vcpu_hour for sid in members),
                                 min(sites[sid].carbon_g_per_kwh for sid in members))
                          for cell, members in self._grid.items()}
        rows = [r for r, _ in self._grid] or [0]
        cols = [c for _, c in self._grid] or [0]
        self._rows, self._cols = (min(rows), max(rows)), (min(cols), max(cols))

    # --- the protocol ---------------------------------------------------------------------------

    def latency(self, a: str, b: str) -> float:
        if a == b:
            return 0.0
        over = self._site_over.get(a)
        if over is not None and b in over:
            return over[b]
        return _km(self._pos[a], self._pos[b]) / 100 * self.per_100km_ms + self._access[a] + self._access[b]

    def area_latency(self, area: str, site: str) -> float:
        over = self._area_over.get(area)
        if over is not None and site in over:
            return over[site]
        return _km(self._area_pos[area], self._pos[site]) / 100 * self.per_100km_ms + self._access[site]

    def bandwidth(self, a: str, b: str) -> float:
        if a == b:
            return float("inf")
        over = self._bw_over.get((a, b))
        if over is not None:
            return over
        sa, sb = self.sites[a], self.sites[b]
        up = min(self.uplink_mbps[sa.tier], self.uplink_mbps[sb.tier])
        return min(up, self.region_mbps.get(frozenset((sa.region, sb.region)), up))

    def nearest_ms(self, site: str) -> float:
        """No other site is closer than both access delays, unless an override says so."""
        over = self._site_over.get(site)
        floor = self._access[site] + self._min_access
        return min(floor, min(over.values())) if over else floor

    # --- range queries --------------------------------------------------------------------------

    def sites_near(self, site: str, max_ms: float, where: Callable[[str], bool] | None = None) -> Iterator[str]:
        s = self.sites[site]
        reach_km = (max_ms - self._access[site] - self._min_access) / self.per_100km_ms * 100
        yield from self._query(s.lat, s.lon, reach_km, lambda other: self.latency(site, other) <= max_ms,
                               self._site_over.get(site, {}), where)

    def sites_by_latency(self, site: str, max_ms: float, where: Callable[[str], bool] | None = None,
                         limit: Callable[[], float] | None = None,
                         cost_cap: Callable[[float, float], float] | None = None,
                         ) -> Iterator[tuple[float, str]]:
        """Nearest first: grid rings around the site, each with a lower bound of its latency;
        a site is returned once no unexpanded ring can hold a nearer one."""
        s = self.sites[site]
        base_ms = self._access[site] + self._min_access
        over = self._site_over.get(site, {})
        heap = [(ms, sid) for sid, ms in over.items() if ms <= max_ms and (where is None or where(sid))]
        heapq.heapify(heap)
        if site not in over and (where is None or where(site)):
            heapq.heappush(heap, (0.0, site))
        r0, c0 = self._cell(s.lat, s.lon)
        (rmin, rmax), (cmin, cmax) = self._rows, self._cols
        for ring in itertools.count():
            rows = range(max(r0 - ring, rmin), min(r0 + ring, rmax) + 1)
            if ring > 1:
                # the nearest point of ring `ring` is (ring - 1) cells away, along a meridian or along a
                # parallel of the populated rows farthest from the equator (where a degree is shortest)
                edge_lat = max((abs(r * GRID_DEGREES) for r in (rows.start, rows.stop)), default=0.0)
                cos = max(0.05, math.cos(math.radians(min(89.0, edge_lat))))
                bound = (ring - 1) * GRID_DEGREES * 111.0 * cos / 100 * self.per_100km_ms + base_ms
            else:
                bound = 0.0
            while heap and heap[0][0] <= bound:
                yield heapq.heappop(heap)
            if bound > max_ms or (limit is not None and bound > limit()):
                break
            if r0 - ring < rmin and r0 + ring > rmax and c0 - ring < cmin and c0 + ring > cmax:
                break  # the ring has passed every populated cell
            for r in rows:
                if abs(r - r0) == ring:
                    cols = range(max(c0 - ring, cmin), min(c0 + ring, cmax) + 1)
                else:
                    cols = [c for c in (c0 - ring, c0 + ring) if cmin <= c <= cmax] if ring else [c0]
                for c in cols:
                    cell = self._grid.get((r, c))
                    if not cell:
                        continue
                    if cost_cap is not None:  # cheapest first: only those below the cap
                        cell = cell[:bisect.bisect_left(self._cell_costs[(r, c)],
                                                        cost_cap(self._cell_min[(r, c)][1], bound))]
                    for sid in cell:
                        if sid == site or sid in over or (where is not None and not where(sid)):
                            continue
                        ms = self.latency(site, sid)
                        if ms <= max_ms:
                            heapq.heappush(heap, (ms, sid))
        while heap:
            yield heapq.heappop(heap)

    def count_near(self, site: str, max_ms: float) -> int:
        """An upper bound on the number of sites `sites_near` would examine (cheap: grid cells)."""
        s = self.sites[site]
        reach_km = (max_ms - self._access[site] - self._min_access) / self.per_100km_ms * 100
        return sum(len(self._grid.get(cell, ())) for cell in self._cells(s.lat, s.lon, reach_km)) + len(
            self._site_over.get(site, ()))

    def _cells(self, lat: float, lon: float, reach_km: float) -> Iterator[tuple[int, int]]:
        if reach_km < 0:
            return
        dlat = reach_km / 111.0 + GRID_DEGREES
        coslat = max(0.05, math.cos(math.radians(min(89.0, abs(lat) + dlat))))
        dlon = min(180.0, reach_km / (111.0 * coslat) + GRID_DEGREES)
        (r0, c0), (r1, c1) = self._cell(lat - dlat, lon - dlon), self._cell(lat + dlat, lon + dlon)
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                yield (r, (c + 180) % 360 - 180 if dlon < 180 else c)

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / GRID_DEGREES), math.floor(lon / GRID_DEGREES))

    def _query(self, lat: float, lon: float, reach_km: float, ok, overrides: Mapping[str, float],
               where: Callable[[str], bool] | None) -> Iterator[str]:
        seen: set[str] = set()
        for cell in self._cells(lat, lon, reach_km):
            for sid in self._grid.get(cell, ()):
                if (where is None or where(sid)) and ok(sid):
                    seen.add(sid)
                    yield sid
        for sid in sorted(overrides):  # an override may bring a far site within reach
            if sid not in seen and (where is None or where(sid)) and ok(sid):
                yield sid


class ModelContinuum(GeoContinuum):
    """A large `Topology` (a latency model plus measured pairs) with GeoContinuum's range queries.
    Latency and bandwidth come from the topology itself, so placement reads exactly the values
    the infrastructure (and the simulator) check links against."""

    def __init__(self, topology: Topology):
        model = topology.model
        super().__init__(
            topology.sites, topology.areas, per_100km_ms=model.per_100km_ms, access_ms=model.access_ms,
            site_latency_overrides={(a, b): ms for a, row in topology.site_latency_ms.items() for b, ms in row.items()},
            area_latency_overrides={(area, s): ms for area, row in topology.area_latency_ms.items()
                                    for s, ms in row.items()})
        self.latency = topology.latency
        self.area_latency = topology.area_latency
        self.bandwidth = topology.bandwidth


def count_near(continuum: Continuum, site: str, max_ms: float) -> int:
    """An upper bound on the number of sites `sites_near` looks at around `site`: the sites of the
    grid cells in reach for a `GeoContinuum`, every site for a scan. A caller about to run many
    range queries (`close` in the search) checks that bound first and gives up when it is too wide."""
    if isinstance(continuum, GeoContinuum):
        return continuum.count_near(site, max_ms)
    return len(continuum.sites)


SCAN_MAX_SITES = 500
"""Up to this many sites a dense topology answers range queries by a scan about as fast as the
grid would (a scan is one latency per site), so only larger model-based topologies are wrapped
in a `ModelContinuum`."""


def continuum_of(source: Continuum | Topology) -> Continuum:
    """What placement reads: a large model-based topology gets range queries; anything else as is."""
    if isinstance(source, Topology) and source.model is not None and len(source.sites) > SCAN_MAX_SITES:
        return ModelContinuum(source)
    return source
