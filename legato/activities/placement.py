"""Placement reads the continuum and its free room from the inventory, decides (pure), and
reserves what it chose, all in one transaction under the placement lock: a decision never counts
on a host, node room or bandwidth that another decision, in any process, already holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from temporalio import activity

from legato.activities.base import ActivityGroup, maps_adapter_errors
from legato.activities.contracts import (
    Exclusions,
    Hold,
    PickHosts,
    PlaceComponent,
    PlaceRequest,
    PlanGrowth,
    ReleaseReservation,
    SiteChoice,
)
from legato.adapters.errors import CapacityExhausted
from legato.federation.decide import decide
from legato.federation.partners import Federation
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.inventory.tables import LinkClaimRow, NodeClaimRow
from legato.model import PlacementDecision, ServiceSpec, SitePlan, Topology
from legato.model.components import Footprint
from legato.placement import place, plan_growth
from legato.placement.engine import search_move
from legato.placement.index import SiteIndex
from legato.placement.sites import Usage

T = TypeVar("T")
# Decisions made outside the lock before one is made under it: a decision loses a race only when
# another took part of what it chose in the milliseconds between its read and its check.
OPTIMISTIC_TRIES = 3


class PlacementActivities(ActivityGroup):
    """Decisions read the worker's live copy of the continuum (`LiveContinuum`): refreshed from
    the sites that changed since the last decision, not re-read whole each time."""

    def __init__(self, inventory: Inventory, live: LiveContinuum, federation: Federation | None = None):
        super().__init__(inventory)
        self.live = live
        self.partners = list(federation.partners.values()) if federation else []

    def _locked(self, hold: Hold | None, service_id: str,
                choose: Callable[[Topology, SiteIndex, Usage], T],
                holds: Callable[[T], tuple[list[str], list[NodeClaimRow], list[LinkClaimRow]]]) -> T:
        """Decide, then reserve what was chosen if it is still free, in a short locked transaction;
        if another decision took some of it meanwhile, decide again. The decision itself (CPU,
        milliseconds) runs outside the inventory's lock, so other activities keep writing while it
        runs; only the check and the writes are serialised. After a few lost races it decides
        under the lock, which cannot lose. A retried call first gives back what its own earlier try
        reserved (it is named by the same op id)."""
        inv = self.inventory
        if hold is not None and activity.in_activity() and activity.info().attempt > 1:
            inv.release_reservation(hold.op_id)
        for _ in range(OPTIMISTIC_TRIES):
            with self.live.use() as (topology, index):
                result = choose(topology, index, inv.usage())
                bandwidth = index.bandwidth
            if hold is None:
                return result
            hosts, rooms, links = holds(result)
            if not (hosts or rooms or links):
                return result
            with inv.session():
                inv.placement_lock()
                if inv.still_free(hosts, rooms, links, bandwidth):
                    inv.reserve(hold.op_id, hold.workflow_id, service_id, hosts, rooms, links)
                    return result
        with inv.session():  # contended: decide and reserve under the lock
            inv.placement_lock()
            with self.live.use() as (topology, index):
                result = choose(topology, index, inv.usage())
            hosts, rooms, links = holds(result)
            if hosts or rooms or links:
                inv.reserve(hold.op_id, hold.workflow_id, service_id, hosts, rooms, links)
            return result

    @activity.defn(name="placement.place")
    @maps_adapter_errors  # heartbeats while it waits for the continuum's copy, which decisions share in turn
    async def place(self, request: PlaceRequest) -> PlacementDecision:
        spec = request.spec

        def choose(topology: Topology, index: SiteIndex, usage: Usage) -> PlacementDecision:
            source: Topology | SiteIndex = index
            if request.exclude:
                source, usage = excluding(topology, usage, request.exclude)
            if request.federate and self.partners:  # local or partner, per component (placement stays local)
                return decide(spec, source, usage, self.partners)
            return place(spec, source, usage)

        def holds(decision: PlacementDecision):
            if not decision.feasible:
                return [], [], []
            site_of = {p.component: p.site for p in decision.components}
            links = [LinkClaimRow(site_a=site_of[lk.source], site_b=site_of[lk.target], mbps=lk.bandwidth_mbps,
                                  service_id=spec.id, holder="", state="")
                     for lk in spec.links
                     if lk.source in site_of and lk.target in site_of and site_of[lk.source] != site_of[lk.target]]
            return *site_holds(spec, decision.sites), links

        start = time.perf_counter()
        decision = await asyncio.to_thread(self._locked, request.hold, spec.id, choose, holds)
        activity.metric_meter().create_histogram_float(
            "legato_placement_seconds", "Placement decision time", "s"
        ).record(time.perf_counter() - start, {"feasible": str(decision.feasible).lower()})
        return decision

    @activity.defn(name="placement.place_component")
    @maps_adapter_errors
    async def place_component(self, req: PlaceComponent) -> SiteChoice:
        """Where a moved component goes, the others staying put."""
        spec = req.spec

        def choose(topology: Topology, index: SiteIndex, usage: Usage) -> SiteChoice:
            found = search_move(spec, req.component, index, usage, req.current, req.target_site)
            reasons = []
            if found.plan is not None:
                site = topology.sites[found.plan.site]
                reasons = [f"{site.tier} site of {site.provider} in {site.country}", found.reason,
                           f"site plan: {found.plan.action}" + (f" cluster {found.plan.cluster}"
                                                                if found.plan.cluster else "")]
            return SiteChoice(plan=found.plan, reason=found.reason, rejected=found.rejected, score=found.score,
                              reasons=reasons)

        def holds(choice: SiteChoice):
            if choice.plan is None:
                return [], [], []
            target = choice.plan.site
            links = [LinkClaimRow(site_a=target, site_b=req.current[other], mbps=lk.bandwidth_mbps,
                                  service_id=spec.id, holder="", state="")
                     for lk in spec.links if req.component in (lk.source, lk.target)
                     for other in [lk.target if lk.source == req.component else lk.source]
                     if other in req.current and req.current[other] != target]
            return *site_holds(spec, [choice.plan]), links

        return await asyncio.to_thread(self._locked, req.hold, spec.id, choose, holds)

    @activity.defn(name="placement.plan_growth")
    @maps_adapter_errors
    async def plan_growth(self, req: PlanGrowth) -> SiteChoice:
        """Room for more replicas on the component's cluster, or the hosts to add to make it."""
        extra = req.spec.component(req.component).model_copy(update={"replicas": req.extra_replicas})

        def choose(topology: Topology, _index: SiteIndex, usage: Usage) -> SiteChoice:
            plan, reason = plan_growth(topology.sites[req.site], req.cluster_id, [extra], usage)
            return SiteChoice(plan=plan, reason=reason)

        def holds(choice: SiteChoice):
            spec = req.spec.with_component(req.component, replicas=req.extra_replicas)
            return *site_holds(spec, [choice.plan] if choice.plan else []), []

        return await asyncio.to_thread(self._locked, req.hold, req.spec.id, choose, holds)

    @activity.defn(name="placement.pick_hosts")
    @maps_adapter_errors
    async def pick_hosts(self, req: PickHosts) -> list[str]:
        """Plain hosts first: special hardware stays free for the workloads that need it."""

        def choose(topology: Topology, _index: SiteIndex, _usage: Usage) -> list[str]:
            site = topology.sites.get(req.site)
            need = req.fits or Footprint(cpu=0, memory_mb=0)
            free = sorted((h for h in (site.hosts if site else []) if h.state == "free" and h.cpu >= need.cpu
                           and h.memory_mb >= need.memory_mb and h.gpu >= need.gpu
                           and set(req.features) <= set(h.features)),
                          key=lambda h: (len(h.features), h.gpu, -h.cpu, h.id))  # fmt: skip
            if len(free) < req.count:
                such = f" with {', '.join(req.features)}" if req.features else ""
                raise CapacityExhausted(f"site {req.site} has {len(free)} free host(s){such}, not {req.count}")
            return [h.id for h in free[:req.count]]

        return await asyncio.to_thread(self._locked, req.hold, req.service_id, choose, lambda ids: (ids, [], []))

    @activity.defn(name="placement.release")
    @maps_adapter_errors
    async def release(self, req: ReleaseReservation) -> int:
        """What the placement `req.op_id` still holds goes back (its steps turned the rest into
        allocations already). Idempotent: a compensation and the end of an operation both call it."""
        freed = await self.record(self.inventory.release_reservation, req.op_id)
        await self.mirror(req, f"reservation {req.op_id}: {freed} item(s) given back")
        return freed


def site_holds(spec: ServiceSpec, plans: list[SitePlan]) -> tuple[list[str], list[NodeClaimRow]]:
    """The hosts and the node room a set of site plans holds (a new cluster is the service's own:
    its hosts are enough)."""
    hosts = [h for plan in plans for h in plan.add_hosts]
    rooms = []
    for plan in plans:
        if plan.cluster is None:
            continue
        for name, on in sorted(plan.nodes.items()):
            comp = spec.component(name)
            rooms += [NodeClaimRow(cluster=plan.cluster, host=host, component=name, replicas=n, cpu=comp.cpu,
                                   memory_mb=comp.memory_mb, gpu=comp.gpu, service_id=spec.id, holder="", state="")
                      for host, n in sorted(on.items())]
    return hosts, rooms


def excluding(topology: Topology, usage: Usage, exclude: Exclusions) -> tuple[Topology, Usage]:
    """The continuum without what a backend refused: sites gone, hosts taken, clusters unusable
    (for this service: it may still get a cluster of its own there), links with no room left."""
    sites = {}
    for site_id, site in topology.sites.items():
        if site_id in exclude.sites:
            continue
        if any(h.id in exclude.hosts for h in site.hosts) or any(c.id in exclude.clusters for c in site.clusters):
            site = site.model_copy(update={
                "hosts": [h.model_copy(update={"state": "allocated"}) if h.id in exclude.hosts else h
                          for h in site.hosts],
                "clusters": [c for c in site.clusters if c.id not in exclude.clusters]})
        sites[site_id] = site
    links = dict(usage.links)
    for pair in exclude.links:
        a, _, b = pair.partition("|")
        links[(a, b) if a <= b else (b, a)] = float("inf")
    return topology.model_copy(update={"sites": sites}), Usage(usage.nodes, usage.unplaced, links)
