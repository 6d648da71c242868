"""Checks of a ServiceSpec against the continuum, before anything starts: errors a client can fix,
each naming the field (the same shape as pydantic's, so the API returns one kind of 422)."""

from __future__ import annotations

from dataclasses import dataclass, field

from legato.model import Component, ServiceSpec, Topology


@dataclass(frozen=True)
class SiteKind:
    """Sites alike for what a spec's rules can ask (country, provider, tier): the cheapest of them,
    and every hardware feature one of them offers. Checking a spec against kinds instead of sites
    keeps validation fast on 10,000 sites, and is sound for a refusal: a kind is more permissive
    than any of its sites."""

    country: str
    provider: str
    tier: str
    cost: float
    features: frozenset[str]


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
    kinds: tuple[SiteKind, ...] = ()
    sites: dict[str, SiteKind] = field(default_factory=dict)  # each site as a kind of its own

    @classmethod
    def of(cls, topology: Topology, area_ms: dict | None = None) -> ContinuumFacts:
        hosts = [h for site in topology.sites.values() for h in site.hosts]
        nearest = {area: min(area_ms[area]) if area_ms is not None and len(area_ms[area]) else
                   min((topology.area_latency(area, s) for s in topology.sites), default=float("inf"))
                   for area in topology.areas}
        sites = {s.id: SiteKind(s.country, s.provider, str(s.tier), s.cost_per_vcpu_hour, frozenset(s.features))
                 for s in topology.sites.values() if s.hosts}
        kinds: dict[tuple, SiteKind] = {}
        for k in sites.values():
            key = (k.country, k.provider, k.tier)
            old = kinds.get(key)
            kinds[key] = k if old is None else SiteKind(*key, min(old.cost, k.cost), old.features | k.features)
        return cls(areas=frozenset(topology.areas), features=frozenset(f for h in hosts for f in h.features),
                   largest={f: max((getattr(h, f) for h in hosts), default=0) for f in ("cpu", "memory_mb", "gpu")},
                   total_cpu=sum(h.cpu for h in hosts), nearest_ms=nearest, hosts=len(hosts),
                   kinds=tuple(kinds.values()), sites=sites)


def continuum_errors(spec: ServiceSpec, facts: ContinuumFacts, partner_areas: set[str] | frozenset = frozenset(),
                     federated: bool = False) -> list[dict]:
    """`partner_areas`: user areas partners serve (federated, so not checked against our continuum).
    `federated`: partners may take what cannot run here, so a spec no site here can hold is theirs
    to judge, not refused here."""
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
        for attr, need, unit in sizes:
            largest = facts.largest[attr]
            if need > largest:
                err(("components", i, attr), f"oversize: one replica needs {need:g} {unit}, the largest host has "
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
    if not federated and not errors:
        errors += _unplaceable(spec, facts)
    return errors


def _unplaceable(spec: ServiceSpec, facts: ContinuumFacts) -> list[dict]:
    """What the continuum proves can never be placed, whatever is free: policy rules no site meets,
    a component no site may take, a cost cap below the cheapest sites the rules leave."""
    policy = spec.policy

    def allowed(k: SiteKind) -> bool:
        return ((policy.allowed_countries is None or k.country in policy.allowed_countries)
                and (policy.allowed_providers is None or k.provider in policy.allowed_providers))

    for rule, values, attr in (("allowed_countries", policy.allowed_countries, "country"),
                               ("allowed_providers", policy.allowed_providers, "provider")):
        if values is not None and not any(getattr(k, attr) in values for k in facts.kinds):
            have = sorted({getattr(k, attr) for k in facts.kinds})
            return [{"loc": ["body", "policy", rule], "type": "unplaceable",
                     "msg": f"no site of the continuum is in {values} (it has {have})"}]
    if not any(allowed(k) for k in facts.kinds):
        return [{"loc": ["body", "policy"], "type": "unplaceable",
                 "msg": "no site of the continuum meets both allowed_countries and allowed_providers"}]
    errors, cheapest = [], 0.0
    for i, comp in enumerate(spec.components):
        costs = [k.cost for k in _candidates(comp, facts) if allowed(k)]
        if not costs:
            errors.append({"loc": ["body", "components", i, "placement"], "type": "unplaceable",
                           "msg": f"no site meets the policy, the component's placement rules and its features "
                                  f"{sorted(comp.features)}" if comp.features else
                                  "no site meets both the policy and the component's placement rules"})
            continue
        cheapest += min(costs) * comp.total_cpu
    if not errors and policy.max_cost_per_hour is not None and cheapest > policy.max_cost_per_hour + 1e-9:
        errors.append({"loc": ["body", "policy", "max_cost_per_hour"], "type": "unplaceable",
                       "msg": f"{policy.max_cost_per_hour:g}/h is below the cheapest placement the rules allow, "
                              f"{cheapest:.4g}/h"})
    return errors


def _candidates(comp: Component, facts: ContinuumFacts):
    rules = comp.placement
    pool = ([facts.sites[s] for s in rules.sites if s in facts.sites and s not in rules.avoid_sites]
            if rules.sites is not None else facts.kinds)
    for k in pool:
        if ((rules.tiers is None or k.tier in rules.tiers) and (rules.countries is None or k.country in rules.countries)
                and set(comp.features) <= k.features):
            yield k
