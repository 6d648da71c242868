"""Changing the user areas of a running service (PATCH /v1/services/{id}, a TMF modify, location
events): what may change without the connectivity following, and the new list from a demand report.

What is built: each area's `demand_rps` — what the simulator's load and the autopilot read — may
change on a running service. What is not: adding or removing an area, or changing what its user
QoS connection was made from (entry component, QoS profile, bandwidth, max latency), because the
update operation does not connect or disconnect user QoS yet; such a change is refused (422) with
that reason rather than accepted into a spec the connections no longer match."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import Field, model_validator

from legato.model.service import ServiceSpec, Strict, UserArea

CONNECTED = ("area", "qos_profile", "bandwidth_mbps", "max_latency_ms")  # what a user QoS connection is made from


def connection_changes(spec: ServiceSpec, new: list[UserArea]) -> list[tuple[tuple, str]]:
    """(where, why) for each change of `new` the running service cannot follow yet; [] if none."""
    old = spec.user_areas
    if [a.area for a in new] != [a.area for a in old]:
        return [((), f"the areas are {[a.area for a in old]} and stay so: adding, removing or reordering user "
                     f"areas on a running service is not built yet (their user QoS would not follow); only "
                     f"`demand_rps` may change")]
    found = []
    for i, (was, now) in enumerate(zip(old, new, strict=True)):
        if spec.entry_component(was) != (now.component or spec.components[0].name):
            found.append(((i, "component"), f"{was.area}'s entry component is {spec.entry_component(was)}: "
                                            "changing it on a running service is not built yet"))
        for field in CONNECTED[1:]:
            if getattr(was, field) != getattr(now, field):
                found.append(((i, field), f"{was.area}'s {field} is {getattr(was, field)!r}: its user QoS "
                                          "connection was made with it, and reconnecting is not built yet"))
    return found


def with_demand(spec: ServiceSpec, demand_rps: Mapping[str, float]) -> list[UserArea]:
    """The service's user areas with the given areas' demand (the others as they are)."""
    return [a.model_copy(update={"demand_rps": demand_rps[a.area]}) if a.area in demand_rps else a
            for a in spec.user_areas]


class AreaReport(Strict):
    """Where a service's users are in one area now: a population (as CAMARA's Population Density
    Data or a 5G core's NEF reports it, counted over the area) or the demand it sends."""

    area: str = Field(min_length=1, description="one of the service's user areas")
    users: int | None = Field(default=None, ge=0, description="the service's users in the area now; the demand "
                              "scales with it from the area's last report that gave users (the first one is the base)")
    demand_rps: float | None = Field(default=None, gt=0, description="requests per second the area's users send now")

    @model_validator(mode="after")
    def _one_measure(self) -> AreaReport:
        if (self.users is None) == (self.demand_rps is None):
            raise ValueError("give either `users` or `demand_rps` for the area")
        return self


class LocationReport(Strict):
    """A report of where a service's users are, per area (POST /v1/services/{id}/user-locations)."""

    source: str = Field(default="", max_length=200, description="the reporting system (e.g. nef, camara)")
    observed_at: datetime | None = Field(default=None, description="when the reporting system saw it")
    areas: list[AreaReport] = Field(min_length=1, max_length=1000)
