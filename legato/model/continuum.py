"""The continuum Legato places onto: sites, their hosts and clusters, user areas and latencies."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from legato.model.backends import SiteBackends
from legato.model.service import Name


class Tier(StrEnum):
    far_edge = "far-edge"
    edge = "edge"
    regional = "regional"
    cloud = "cloud"


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
    kubernetes_version: str = "1.31"


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


class Topology(BaseModel):
    """A loaded, validated continuum. Latencies are one-way milliseconds, symmetric."""

    sites: dict[str, Site]
    areas: dict[str, UserAreaDef]
    site_latency_ms: dict[str, dict[str, float]]
    area_latency_ms: dict[str, dict[str, float]]  # area -> site -> ms
    site_bandwidth_mbps: dict[str, dict[str, float]] = Field(default_factory=dict)

    def latency(self, a: str, b: str) -> float:
        return 0.0 if a == b else self.site_latency_ms[a][b]

    def area_latency(self, area: str, site: str) -> float:
        return self.area_latency_ms[area][site]

    def bandwidth(self, a: str, b: str) -> float:
        if a == b:
            return float("inf")
        return self.site_bandwidth_mbps.get(a, {}).get(b, float("inf"))
