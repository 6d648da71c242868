"""What telemetry reports (the boundary of `legato.adapters.telemetry`): KPIs per deployed
component over a window ending now, and the health of hosts, clusters and sites as it is now.

A figure a source cannot see is None, never a guess: the autopilot must tell "no data" from "fine".
Times are epoch seconds of the real clock (`time.time()`), the clock activities and Temporal run on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from pydantic import BaseModel, Field

from legato.model.service import ServiceSpec


class AreaDemand(BaseModel):
    """A user area whose users enter the service at this component, and the demand the service
    declares for it (`UserArea.demand_rps`). A measuring source (Prometheus) ignores the figure;
    the simulator's users generate it (the simulator does not read specs, so the reader passes it)."""

    area: str = Field(min_length=1)
    demand_rps: float = Field(gt=0)


class WorkloadToMeasure(BaseModel):
    """One workload of a component, as the reader knows it from the inventory: what to measure."""

    service_id: str
    component: str
    cluster: str
    workload_id: str
    site: str
    areas: list[AreaDemand] = Field(default_factory=list, description="the user areas it serves as their entry")
    upstream: list[str] = Field(default_factory=list, description="components of the service linking to it: each "
                                "request they admit calls it once")


class AreaKpis(BaseModel):
    """What the users located in one area see of a component."""

    request_rate_rps: float = Field(ge=0, description="requests from the area, mean over the window")
    latency_p95_ms: float | None = Field(default=None, description="network (area to site, one-way as the topology "
                                         "states it, the figure placement checks max_latency_ms against) plus the "
                                         "time to be served; None when nothing served the area's requests")


class ComponentKpis(BaseModel):
    """One deployed component over [since, until]. Every figure None: the source does not see it."""

    service_id: str
    component: str
    cluster: str
    workload_id: str
    site: str
    since: float
    until: float
    request_rate_rps: float | None = Field(default=None, ge=0, description="mean over the window")
    error_rate: float | None = Field(default=None, ge=0, le=1, description="share of the window's requests that "
                                     "failed; None when none arrived")
    cpu_utilisation: float | None = Field(default=None, ge=0, description="of the CPU its ready replicas asked for, "
                                          "mean over the window; > 1 means overloaded; None while nothing was ready")
    ready_replicas: int | None = Field(default=None, ge=0, description="now")
    areas: dict[str, AreaKpis] = Field(default_factory=dict, description="per user area its requests come from "
                                       "(users who moved to another area are counted there)")


class HostHealth(BaseModel):
    id: str
    site: str
    cluster: str | None = None
    power: str | None = Field(default=None, description="on | off, as the BMC reports it")
    healthy: bool
    reason: str | None = Field(default=None, description="why not: 'power off', 'power off: node NotReady'")


class ClusterHealth(BaseModel):
    id: str
    site: str
    healthy: bool
    reason: str | None = Field(default=None, description="'API unreachable', 'every node NotReady', 'no node'")


class SiteHealth(BaseModel):
    id: str
    healthy: bool
    reason: str | None = Field(default=None, description="'every host down'")


class HealthReport(BaseModel):
    """As it is at `at`, one reading: confirming a failure over a window that tolerates blips is
    the reader's job, not the source's."""

    at: float
    hosts: list[HostHealth] = Field(default_factory=list)
    clusters: list[ClusterHealth] = Field(default_factory=list)
    sites: list[SiteHealth] = Field(default_factory=list)


class Where(NamedTuple):
    """Where one workload of a component runs."""

    cluster: str
    workload_id: str
    site: str


def deployed_components(spec: ServiceSpec, service_id: str,
                        where: Mapping[str, Sequence[Where]]) -> list[WorkloadToMeasure]:
    """The telemetry query for a service: each workload of each component (`where`, by component
    name), the user areas entering at it with their declared demand, and the components linking to it."""
    upstream: dict[str, list[str]] = {}
    for link in spec.links:
        upstream.setdefault(link.target, []).append(link.source)
    areas: dict[str, list[AreaDemand]] = {}
    for area in spec.user_areas:
        areas.setdefault(spec.entry_component(area), []).append(AreaDemand(area=area.area, demand_rps=area.demand_rps))
    return [
        WorkloadToMeasure(service_id=service_id, component=c.name, cluster=w.cluster, workload_id=w.workload_id,
                          site=w.site, areas=areas.get(c.name, []), upstream=upstream.get(c.name, []))
        for c in spec.components for w in where.get(c.name, ())
    ]  # fmt: skip
