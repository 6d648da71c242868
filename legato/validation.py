"""Checks of a ServiceSpec against the continuum, before anything starts: errors a client can fix,
each naming the field (the same shape as pydantic's, so the API returns one kind of 422)."""

from __future__ import annotations

from dataclasses import dataclass

from legato.model import ServiceSpec, Topology


@dataclass(frozen=True)
class ContinuumFacts:
    """What validation needs of the continuum, computed once per copy of it (hosts' sizes and
    features do not change when they are allocated), so a request is checked in microseconds."""

    areas: frozenset[str]
    features: frozenset[str]
    largest: dict[str, float]  # cpu, memory_mb, gpu of the largest host for each
    total_cpu: float
    nearest_ms: dict[str, float]  # per user area, the latency of its nearest site
    hosts: int

    @classmethod
    def of(cls, topology: Topology, area_ms: dict | None = None) -> ContinuumFacts:
        hosts = [h for site in topology.sites.values() for h in site.hosts]
        nearest = {area: min(area_ms[area]) if area_ms is not None and len(area_ms[area]) else
                   min((topology.area_latency(area, s) for s in topology.sites), default=float("inf"))
                   for area in topology.areas}
        return cls(areas=frozenset(topology.areas), features=frozenset(f for h in hosts for f in h.features),
                   largest={f: max((getattr(h, f) for h in hosts), default=0) for f in ("cpu", "memory_mb", "gpu")},
                   total_cpu=sum(h.cpu for h in hosts), nearest_ms=nearest, hosts=len(hosts))


def continuum_errors(spec: ServiceSpec, facts: ContinuumFacts, partner_areas: set[str] | frozenset = frozenset(),
                     ) -> list[dict]:
    """`partner_areas`: user areas partners serve (federated, so not checked against our continuum)."""
    errors: list[dict] = []

    def err(loc: tuple, msg: str, kind: str) -> None:
        errors.append({"loc": ["body", *loc], "msg": msg, "type": kind})

    if not facts.hosts:
        return [{"loc": ["body"], "msg": "the continuum has no hosts", "type": "continuum_empty"}]
    for i, comp in enumerate(spec.components):
        missing = sorted(set(comp.features) - facts.features)
        if missing:
            err(("components", i, "features"), f"no host in the continuum offers {missing}", "unknown_feature")
        sizes = (("cpu", comp.cpu, "vCPU"), ("memory_mb", comp.memory_mb, "MiB"), ("gpu", comp.gpu, "GPU"))
        for field, need, unit in sizes:
            largest = facts.largest[field]
            if need > largest:
                err(("components", i, field), f"oversize: one replica needs {need:g} {unit}, the largest host has "
                    f"{largest:g}", "oversize")
    demand = sum(c.total_cpu for c in spec.components)
    if demand > facts.total_cpu:
        err(("components",), f"oversize request: {demand:g} vCPU in all, the whole continuum has "
            f"{facts.total_cpu:g}", "oversize")
    for i, area in enumerate(spec.user_areas):
        if area.area not in facts.areas and area.area in partner_areas:
            continue
        if area.area not in facts.areas:
            err(("user_areas", i, "area"), f"unknown user area '{area.area}' (known: {sorted(facts.areas)})",
                "unknown_area")
            continue
        nearest = facts.nearest_ms[area.area]
        if area.max_latency_ms < nearest:
            err(("user_areas", i, "max_latency_ms"), f"impossible latency: {area.max_latency_ms:g} ms, but the "
                f"nearest site to {area.area} is {nearest:g} ms away", "impossible_latency")
    return errors
