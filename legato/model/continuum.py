"""The continuum Legato places onto: sites, their hosts and clusters, user areas and latencies."""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from legato.model.backends import SiteBackends
from legato.model.service import Name


class Tier(StrEnum):
    far_edge = "far-edge"
    edge = "edge"
    regional = "regional"
    cloud = "cloud"


POOL_PREFIX = "cluster-"


def pool_owner(cluster_id: str) -> str:
    """Who holds the hosts of a shared cluster's own pool: nodes an operator added, and nodes a
    service gave up that still ran other services' pods (see docs/design.md, "Nodes on a shared
    cluster")."""
    return f"{POOL_PREFIX}{cluster_id}"


class Host(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    site: str = ""
    cpu: float = Field(gt=0)
    memory_mb: int = Field(gt=0)
    gpu: int = Field(default=0, ge=0)
    features: list[str] = Field(default_factory=list)
    # Filled by the inventory / PIM: who holds the host now.
    state: str = "free"
    cluster: str | None = None
    service_id: str | None = None
    power: str | None = Field(default=None, description="on | off, as the PIM reports it")


class Cluster(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Name
    site: str = ""
    hosts: list[str] = Field(default_factory=list)
    shared: bool = Field(default=True, description="may host any service (clusters in the topology)")
    service_id: str | None = Field(default=None, description="owner, for clusters Legato created")
    kubernetes_version: str = Field(default="", description="the control plane's version as the cluster reports it "
                                    "(`/version`, e.g. v1.34.4); in a topology, the version the simulator starts it on")
    node_versions: dict[str, str] = Field(default_factory=dict, description="each node's kubelet version, as the "
                                          "node reports it")


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Name
    tier: Tier
    provider: str = Field(min_length=1)
    region: str = Field(min_length=1)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    cost_per_vcpu_hour: float = Field(ge=0)
    energy_price_kwh: float = Field(default=0.2, ge=0)
    carbon_g_per_kwh: float = Field(default=200, ge=0)
    hosts: list[Host] = Field(default_factory=list)
    clusters: list[Cluster] = Field(default_factory=list)
    backend: SiteBackends = Field(default_factory=SiteBackends, description="which backend serves each manager")

    @property
    def features(self) -> set[str]:
        return {f for h in self.hosts for f in h.features}


class UserAreaDef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    region: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


EARTH_RADIUS_KM = 6371.0


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance: the fibre between two places is never shorter than this."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def region_pair(a: str, b: str) -> str:
    return "|".join(sorted((a, b)))


class LatencyModel(BaseModel):
    """Latency and bandwidth where nothing was measured: propagation over the great-circle
    distance plus each end's access (last-mile) delay; bandwidth by region pair. Kept with the
    topology so a continuum of thousands of sites stores only its measured pairs, not every pair."""

    model_config = ConfigDict(extra="forbid")

    per_100km_ms: float = Field(default=1.0, gt=0)
    access_ms: dict[Tier, float]
    default_mbps: float = Field(default=10000.0, gt=0)
    region_mbps: dict[str, float] = Field(default_factory=dict, description="'a|b' (sorted regions) -> Mbps")

    def to_place(self, lat: float, lon: float, site: Site) -> float:
        return great_circle_km(lat, lon, site.lat, site.lon) / 100 * self.per_100km_ms + self.access_ms[site.tier]

    def between(self, a: Site, b: Site) -> float:
        if a.id > b.id:  # one order for both directions: symmetric to the last bit
            a, b = b, a
        return self.to_place(a.lat, a.lon, b) + self.access_ms[a.tier]

    def bandwidth(self, a: Site, b: Site) -> float:
        return self.region_mbps.get(region_pair(a.region, b.region), self.default_mbps)


class Topology(BaseModel):
    """A loaded, validated continuum. Latencies are one-way milliseconds, symmetric.

    The three matrices hold what was measured (overrides) or, for a small continuum, every pair;
    a pair they lack comes from `model`. A topology without a model must list every pair."""

    sites: dict[str, Site]
    areas: dict[str, UserAreaDef]
    site_latency_ms: dict[str, dict[str, float]] = Field(default_factory=dict)
    area_latency_ms: dict[str, dict[str, float]] = Field(default_factory=dict)  # area -> site -> ms
    site_bandwidth_mbps: dict[str, dict[str, float]] = Field(default_factory=dict)
    model: LatencyModel | None = None

    def latency(self, a: str, b: str) -> float:
        if a == b:
            return 0.0
        row = self.site_latency_ms.get(a)
        if row is not None and b in row:
            return row[b]
        if self.model is None:
            raise KeyError(f"no latency between sites {a} and {b}")
        return self.model.between(self.sites[a], self.sites[b])

    def area_latency(self, area: str, site: str) -> float:
        row = self.area_latency_ms.get(area)
        if row is not None and site in row:
            return row[site]
        if self.model is None or area not in self.areas:
            raise KeyError(f"no latency from user area {area} to site {site}")
        where = self.areas[area]
        return self.model.to_place(where.lat, where.lon, self.sites[site])

    def bandwidth(self, a: str, b: str) -> float:
        if a == b:
            return float("inf")
        row = self.site_bandwidth_mbps.get(a)
        if row is not None and b in row:
            return row[b]
        if self.model is None:
            return float("inf")
        return self.model.bandwidth(self.sites[a], self.sites[b])
