"""Local or partner, per component (pure: no I/O). Placement stays the local engine; this module
splits the service around it:

- a user area our continuum does not have, but a partner serves (roaming): the components that
  serve it (its entry component and what is co-located with it) go to that partner;
- a component whose placement rules name only countries a partner serves, none of ours: likewise;
- a service placement finds infeasible: each component that cannot be placed here even alone goes
  to a partner that accepts overflow, and the rest is placed again.

The result is the local engine's decision for the local part, plus a `federated` entry (partner,
reason) per component sent away."""

from __future__ import annotations

from legato.model import PlacementDecision, ServiceSpec, Topology
from legato.model.federation import Partner
from legato.model.placement import FederatedPlacement
from legato.model.service import PlacementRules
from legato.placement import ClusterUsage, place


def colocated(spec: ServiceSpec, name: str) -> set[str]:
    """`name` and every component chained to it by colocate_with (either direction)."""
    group, frontier = {name}, [name]
    while frontier:
        current = frontier.pop()
        for comp in spec.components:
            if comp.name == current:
                linked = comp.colocate_with
            else:
                linked = [comp.name] if current in comp.colocate_with else []
            for other in linked:
                if other not in group:
                    group.add(other)
                    frontier.append(other)
    return group


def part_spec(spec: ServiceSpec, names: set[str], areas: set[str] | None = None) -> ServiceSpec:
    """The sub-service of `names`: their links among themselves, the user areas they are the entry of
    (only those in `areas`, if given), and hints that stay within the part."""
    comps = [c.model_copy(update={"colocate_with": [x for x in c.colocate_with if x in names],
                                  "anti_affinity": [x for x in c.anti_affinity if x in names]})
             for c in spec.components if c.name in names]
    user_areas = [a.model_copy(update={"component": spec.entry_component(a)}) for a in spec.user_areas
                  if spec.entry_component(a) in names and (areas is None or a.area in areas)]
    policy = spec.policy.model_copy(update={"min_sites": min(spec.policy.min_sites, len(comps))})
    return spec.model_copy(update={
        "components": comps, "user_areas": user_areas, "policy": policy,
        "links": [link for link in spec.links if link.source in names and link.target in names],
    })


def remote_spec(spec: ServiceSpec, names: set[str], partner: Partner) -> ServiceSpec:
    """What a partner is asked to deploy: the part, without our site and provider names (which mean
    nothing in its continuum), with only the user areas it serves, and without our SLOs (the home
    side keeps the service's intents; a partner's automatic action is bounded by its own policy)."""
    part = part_spec(spec, names, set(partner.areas))
    comps = [c.model_copy(update={"placement": PlacementRules(tiers=c.placement.tiers,
                                                               countries=c.placement.countries)})
             for c in part.components]
    policy = part.policy.model_copy(update={"allowed_providers": None})
    return ServiceSpec.model_validate(part.model_copy(update={
        "id": None, "tenant": None, "not_before": None, "components": comps, "policy": policy, "slos": [],
    }).model_dump(by_alias=True))


def decide(spec: ServiceSpec, topology: Topology, usage: ClusterUsage, partners: list[Partner]) -> PlacementDecision:
    federated: dict[str, FederatedPlacement] = {}

    def send(names: set[str], partner: Partner, reason: str) -> None:
        for name in sorted(names):
            federated.setdefault(name, FederatedPlacement(component=name, partner=partner.id, reason=reason))

    for area in spec.user_areas:
        if area.area in topology.areas:
            continue
        partner = next((p for p in partners if area.area in p.areas), None)
        if partner is not None:
            send(colocated(spec, spec.entry_component(area)), partner,
                 f"users in {area.area} are served only by partner {partner.name or partner.id}")
    our_countries = {site.country for site in topology.sites.values()}
    for comp in spec.components:
        wanted = set(comp.placement.countries or [])
        if wanted and not wanted & our_countries:
            partner = next((p for p in partners if wanted <= set(p.countries)), None)
            if partner is not None:
                send(colocated(spec, comp.name), partner,
                     f"countries {sorted(wanted)} are served only by partner {partner.name or partner.id}")

    decision = _place_local(spec, federated, topology, usage)
    overflow = next((p for p in partners if p.overflow), None)
    if not decision.feasible and overflow is not None:
        before = len(federated)
        for comp in spec.components:
            if comp.name in federated:
                continue
            group = colocated(spec, comp.name)
            alone = place(part_spec(spec, group), topology, usage)
            if not alone.feasible:
                send(group, overflow, f"no feasible local placement ({alone.infeasible_reason}); "
                                      f"partner {overflow.name or overflow.id} accepts overflow")
        if len(federated) > before:
            decision = _place_local(spec, federated, topology, usage)
    order = {c.name: i for i, c in enumerate(spec.components)}
    decision.federated = sorted(federated.values(), key=lambda f: order[f.component])
    return decision


def _place_local(spec: ServiceSpec, federated: dict, topology: Topology, usage: ClusterUsage) -> PlacementDecision:
    local = {c.name for c in spec.components} - set(federated)
    if not local:
        return PlacementDecision(feasible=True)
    return place(part_spec(spec, local), topology, usage)
