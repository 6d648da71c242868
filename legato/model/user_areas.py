"""Changing the user areas of a running service (PATCH /v1/services/{id}, a TMF modify, location
events): what may change without the connectivity following, and the new list from a demand report.

What is built: each area's `demand_rps` — what the simulator's load and the autopilot read — may
change on a running service. What is not: adding or removing an area, or changing what its user
QoS connection was made from (entry component, QoS profile, bandwidth, max latency), because the
update operation does not connect or disconnect user QoS yet; such a change is refused (422) with
that reason rather than accepted into a spec the connections no longer match."""

from __future__ import annotations

from collections.abc import Mapping

from legato.model.service import ServiceSpec, UserArea

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
