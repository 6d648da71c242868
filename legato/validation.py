"""Checks of a ServiceSpec against the continuum, before anything starts: errors a client can fix,
each naming the field (the same shape as pydantic's, so the API returns one kind of 422)."""

from __future__ import annotations

from legato.model import ServiceSpec, Topology


def continuum_errors(spec: ServiceSpec, topology: Topology, partner_areas: set[str] | frozenset = frozenset(),
                     ) -> list[dict]:
    """`partner_areas`: user areas partners serve (federated, so not checked against our continuum)."""
    errors: list[dict] = []

    def err(loc: tuple, msg: str, kind: str) -> None:
        errors.append({"loc": ["body", *loc], "msg": msg, "type": kind})

    hosts = [h for site in topology.sites.values() for h in site.hosts]
    if not hosts:
        return [{"loc": ["body"], "msg": "the continuum has no hosts", "type": "continuum_empty"}]
    all_features = {f for h in hosts for f in h.features}
    for i, comp in enumerate(spec.components):
        missing = sorted(set(comp.features) - all_features)
        if missing:
            err(("components", i, "features"), f"no host in the continuum offers {missing}", "unknown_feature")
        sizes = (("cpu", comp.cpu, "vCPU"), ("memory_mb", comp.memory_mb, "MiB"), ("gpu", comp.gpu, "GPU"))
        for field, need, unit in sizes:
            largest = max(getattr(h, field) for h in hosts)
            if need > largest:
                err(("components", i, field), f"oversize: one replica needs {need:g} {unit}, the largest host has "
                    f"{largest:g}", "oversize")
    total_cpu = sum(h.cpu for h in hosts)
    demand = sum(c.total_cpu for c in spec.components)
    if demand > total_cpu:
        err(("components",), f"oversize request: {demand:g} vCPU in all, the whole continuum has {total_cpu:g}",
            "oversize")
    for i, area in enumerate(spec.user_areas):
        if area.area not in topology.areas and area.area in partner_areas:
            continue
        if area.area not in topology.areas:
            err(("user_areas", i, "area"), f"unknown user area '{area.area}' (known: {sorted(topology.areas)})",
                "unknown_area")
            continue
        nearest = min(topology.area_latency(area.area, site) for site in topology.sites)
        if area.max_latency_ms < nearest:
            err(("user_areas", i, "max_latency_ms"), f"impossible latency: {area.max_latency_ms:g} ms, but the "
                f"nearest site to {area.area} is {nearest:g} ms away", "impossible_latency")
    return errors
