"""Checks of a ServiceSpec against the continuum, before anything starts: errors a client can fix,
each naming the field (the same shape as pydantic's, so the API returns one kind of 422)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from legato.adapters.wdm.hardware import hardware_errors
from legato.model import Component, ServiceSpec, Topology
from legato.model.intents import latency_areas
from legato.model.service import ComponentKind


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
    errors: list[dict] = workload_errors(spec)

    def err(loc: tuple, msg: str, kind: str) -> None:
        errors.append({"loc": ["body", *loc], "msg": msg, "type": kind})

    if not facts.hosts:
        return errors + [{"loc": ["body"], "msg": "the continuum has no hosts", "type": "continuum_empty"}]
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
    errors += slo_latency_errors(spec, facts)
    if not federated and not errors:
        errors += _unplaceable(spec, facts)
    return errors


def slo_latency_errors(spec: ServiceSpec, facts: ContinuumFacts) -> list[dict]:
    """A latency objective no placement can meet: tighter than the network alone from the area to
    its nearest site (areas the continuum does not know are a partner's to judge)."""
    errors = []
    for i, slo in enumerate(spec.slos):
        if slo.p95_latency_ms is None:
            continue
        for area in sorted(latency_areas(spec, slo)):
            nearest = facts.nearest_ms.get(area)
            if nearest is not None and slo.p95_latency_ms < nearest:
                errors.append({"loc": ["body", "slos", i, "p95_latency_ms"], "type": "impossible_latency",
                               "msg": f"impossible latency: {slo.p95_latency_ms:g} ms, but the nearest site to "
                                      f"{area} is {nearest:g} ms away"})
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


# ---- what a workload may be, whatever the continuum

# Words that make an environment variable's name a credential's, as whole parts of the name
# (DB_PASSWORD, apiKey, AWS_SECRET_ACCESS_KEY), unless its last part says it holds something else
# (DB_PASSWORD_FILE: a path; TOKEN_TTL: a duration).
CREDENTIAL_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "credential",
                              "credentials", "privatekey", "accesskey", "secretkey"})
NOT_A_VALUE = frozenset({"file", "path", "dir", "ttl", "timeout", "seconds", "length", "enabled", "mode", "type",
                         "name", "ref", "url", "endpoint", "header", "issuer", "audience"})
# Values that are credentials whatever the name: PEM private keys, URLs carrying a password, JWTs,
# well-known token formats (AWS access key ids, GitHub and Slack tokens, Google API keys).
CREDENTIAL_VALUES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|://[^/\s:@]+:[^/\s@]+@|\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.|\bAKIA[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{35}")


def _name_parts(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [p for p in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if p]


def looks_like_credential(name: str, value: str) -> bool:
    if not value:
        return False
    if CREDENTIAL_VALUES.search(value):
        return True
    parts = _name_parts(name)
    if not parts or parts[-1] in NOT_A_VALUE:
        return False
    joined = {a + b for a, b in zip(parts, parts[1:], strict=False)}
    return bool(CREDENTIAL_WORDS & (set(parts) | joined))


def workload_errors(spec: ServiceSpec) -> list[dict]:
    """What no backend runs as asked: a VM (no VM backend yet), a credential in plain `env` (it would
    be stored, logged and kept in the workflow's history: `secret_env` refers to it instead), and
    hardware the cluster's resources cannot express exactly (`hardware_errors`). The messages never
    repeat an env value."""
    errors: list[dict] = []
    for i, comp in enumerate(spec.components):
        if comp.kind == ComponentKind.vm:
            errors.append({"loc": ["body", "components", i, "kind"], "type": "not_supported",
                           "msg": "VM workloads are not supported yet: no VM backend exists; run it as a container"})
        for name, value in comp.env.items():
            if looks_like_credential(name, value):
                errors.append({"loc": ["body", "components", i, "env", name], "type": "credential_in_env",
                               "msg": f"{name} looks like a credential: put the value in a Kubernetes Secret or Vault "
                                      f"and refer to it with secret_env: {{{name}: {{secretRef}}}} "
                                      "(kubernetes: <Secret>, or vault: <path>; and key)"})
        for name in sorted(set(comp.env) & set(comp.secret_env)):
            errors.append({"loc": ["body", "components", i, "secret_env", name], "type": "duplicate_env",
                           "msg": f"{name} is set both in env and in secret_env"})
        for attr, msg in hardware_errors(comp.cpu, comp.memory_mb, comp.features):
            errors.append({"loc": ["body", "components", i, attr], "type": "hardware", "msg": msg})
    return errors
