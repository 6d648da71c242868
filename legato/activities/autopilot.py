"""The autopilot's activities (the `Autopilot` workflow runs them on its schedule): read telemetry
into KPI samples, plan one action per service from the samples, the intents and the measures,
carry each out through the service's own day-2 operation (or record it as a proposal), and measure
what earlier actions achieved. Telemetry is read here, never in a workflow."""

from __future__ import annotations

import asyncio
import math
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from legato.activities.base import ActivityGroup, heartbeating
from legato.activities.contracts import ApplyMeasure, AutopilotAction, AutopilotRound
from legato.adapters.telemetry import Telemetry
from legato.autopilot import plan as planner
from legato.autopilot.confirm import Reading, verdict
from legato.autopilot.inputs import bounds_for, objectives_for, past_of, sample_row, samples_of
from legato.client import NotRunning, Refused, Running, ServiceClient
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.inventory.measure_tables import FailureRow, HealthReadingRow, KpiSampleRow, MeasureRow
from legato.maintenance import MaintenanceGate
from legato.model.intents import AutopilotPolicy, EffectivePolicy, effective_policy
from legato.model.operations import Finding, MoveRequest, Operation, RepairRequest, ScaleRequest
from legato.model.service import ServiceSpec
from legato.model.telemetry import Where, deployed_components
from legato.placement.engine import search_move
from legato.placement.index import SiteIndex
from legato.user_locations import apply_pending

AUTOPILOT = "autopilot"  # who the operations log says asked
KPIS = ("ready_replicas", "request_rate_rps", "cpu_utilisation", "error_rate")


class AutopilotActivities(ActivityGroup):
    def __init__(self, telemetry: Telemetry, inventory: Inventory, live: LiveContinuum):
        super().__init__(inventory)
        self.telemetry, self.live = telemetry, live

    async def _services(self) -> tuple[AutopilotPolicy, list[tuple[ServiceSpec, EffectivePolicy]]]:
        """The operator's policy, and the active services whose effective policy lets the autopilot
        act or propose."""
        operator = await self.record(self.inventory.autopilot_policy)
        running = await self.record(self.inventory.running_services)
        return operator, [(spec, policy) for spec, _ in running
                          if (policy := effective_policy(operator, spec)).enabled]  # fmt: skip

    @activity.defn(name="autopilot.observe")
    async def observe(self, req: AutopilotRound) -> int:
        """One reading of every component the autopilot watches, kept as samples; old ones dropped."""
        await self._apply_user_locations()
        rows: list[KpiSampleRow] = []
        in_use: set[str] = set()
        async with heartbeating():
            for spec, policy in (await self._services())[1]:
                where: dict[str, list[Where]] = {}
                for c in await self.record(self.inventory.components, spec.id):
                    where.setdefault(c.name, []).append(Where(c.cluster, c.workload_id, c.site))
                    if policy.allows("heal"):
                        in_use |= {f"cluster:{c.cluster}", f"site:{c.site}"}
                deployed = deployed_components(spec, spec.id, where)  # also what a heal's effect is measured on
                rows += [sample_row(k) for k in await self.telemetry.components(deployed, req.window_seconds)]
            await self._read_health(req, in_use)
        await self.record(self.inventory.samples_recorded, rows)
        await self.record(self.inventory.samples_pruned, time.time() - req.history_seconds)
        return len(rows)

    async def _apply_user_locations(self) -> None:
        """Location reports left waiting (coalesced within their interval, or a busy service) applied
        once their interval has passed: a burst's last report is never lost for want of a next one."""
        now = time.time()
        services = ServiceClient(activity.client(), activity.info().task_queue)
        for service_id in await self.record(self.inventory.locations_due, now):
            row = await self.record(self.inventory.service, service_id)
            if row is None:
                continue
            try:
                await apply_pending(self.inventory, services, ServiceSpec.model_validate(row.spec), now)
            except Refused as busy:
                activity.logger.info("user locations of %s wait: %s", service_id, busy.message)

    async def _read_health(self, req: AutopilotRound, in_use: set[str]) -> None:
        """A reading of each host, cluster and site that a healed service uses (a host: through its
        cluster), that is unhealthy, or that was read lately (so a recovery is seen)."""
        report = await self.telemetry.health()
        watched = await self.record(self.inventory.watched_resources, report.at - req.health_window_seconds)
        readings = [HealthReadingRow(resource=f"host:{h.id}", at=report.at, healthy=h.healthy, detail=h.reason or "",
                                     cluster=h.cluster, site=h.site) for h in report.hosts]
        readings += [HealthReadingRow(resource=f"cluster:{c.id}", at=report.at, healthy=c.healthy,
                                      detail=c.reason or "", cluster=c.id, site=c.site) for c in report.clusters]
        readings += [HealthReadingRow(resource=f"site:{x.id}", at=report.at, healthy=x.healthy, detail=x.reason or "",
                                      site=x.id) for x in report.sites]  # fmt: skip
        kept = [r for r in readings if not r.healthy or r.resource in watched or r.resource in in_use
                or (r.cluster is not None and f"cluster:{r.cluster}" in in_use)]  # fmt: skip
        await self.record(self.inventory.readings_recorded, kept)
        await self.record(self.inventory.readings_pruned, report.at - req.health_window_seconds)

    @activity.defn(name="autopilot.plan")
    async def plan(self, req: AutopilotRound) -> list[AutopilotAction]:
        """At most one action per service (its first component in need, in spec order); what is held
        back, and why, goes to the worker's log and the round's summary."""
        now = time.time()
        operator, services = await self._services()
        actions = await self._heal(operator, services, req, now)
        healing = {a.service_id for a in actions}
        for spec, policy in services:
            if not spec.slos or spec.id in healing:
                continue
            past = past_of(await self.record(self.inventory.measures_of, spec.id, now - planner.HOUR))
            for comp in spec.components:
                objectives = objectives_for(spec, comp.name)
                if objectives is None:
                    continue
                rows = await self.record(self.inventory.samples, spec.id, comp.name, now - req.history_seconds)
                at = await self.record(self.inventory.component, spec.id, comp.name)
                site = at.site if at else None
                geography = await asyncio.to_thread(self._geography, spec, comp.name, site, policy)
                decision = planner.plan(comp.name, samples_of(rows), objectives, bounds_for(policy), past, now,
                                        req.horizon_steps, req.season_steps, geography)
                if isinstance(decision, planner.Held):
                    activity.logger.info("autopilot holds %s/%s: %s", spec.id, comp.name, decision.reason)
                elif decision is not None:
                    actions.append(_action(req, spec, policy, decision, objectives, rows, site))
                    break
        return actions

    async def _heal(self, operator: AutopilotPolicy, services: list[tuple[ServiceSpec, EffectivePolicy]],
                    req: AutopilotRound, now: float) -> list[AutopilotAction]:
        """Failures confirmed over the policy's `confirm_seconds` (blips never), and recoveries;
        then a heal for each component on a failed host, cluster or site that has not had one for
        that failure."""
        failures = await self.record(self.inventory.open_failures)
        for resource, rows in (await self.record(self.inventory.readings, now - req.health_window_seconds)).items():
            seen = verdict([Reading(r.at, r.healthy, r.detail) for r in rows], operator.confirm_seconds,
                           resource in failures)  # fmt: skip
            last = rows[-1]
            if seen.state == "failed" and resource not in failures:
                failure = FailureRow(resource=resource, since=seen.since or last.at, confirmed_at=now,
                                     detail=seen.detail, cluster=last.cluster, site=last.site)  # fmt: skip
                await self.record(self.inventory.failure_opened, failure)
                failures[resource] = failure
            elif seen.state == "healthy" and resource in failures:
                back = failures.pop(resource)
                activity.logger.info("autopilot: %s healthy again (%s)", resource, back.detail)
                await self._clean_up(back)
                await self.record(self.inventory.failure_closed, resource)
        actions = []
        for spec, policy in services:
            if not policy.allows("heal"):
                continue
            for c in await self.record(self.inventory.components, spec.id):
                failure = _worst(failures, c.site, c.cluster)
                if failure is None:
                    continue
                heal_id = f"heal-{spec.id}-{c.name}-{failure.resource.replace(':', '-')}-{int(failure.since)}"
                if await self.record(self.inventory.measure, heal_id) is not None:
                    continue  # healed once for this failure
                in_place = failure.resource.startswith("host:")
                what = (f"{c.name}'s replicas there re-created on the other nodes of {c.cluster}" if in_place else
                        f"{c.name} moved away from {c.site}, make-before-break")
                actions.append(AutopilotAction(
                    id=heal_id, service_id=spec.id, tenant=spec.tenant or "", component=c.name, kind="heal",
                    breach=f"failure:{failure.resource}", mode=policy.approval, decided_at=now, replicas=c.replicas,
                    reason=f"{failure.resource} failed ({failure.detail}, confirmed over "
                           f"{operator.confirm_seconds:g} s): {what}",
                    data={"replicas": c.replicas, "cluster": c.cluster, "site": c.site, "failed": failure.resource,
                          "since": failure.since, "in_place": in_place,
                          "allowed_sites": policy.allowed_sites}))  # fmt: skip
        return actions

    async def _clean_up(self, back: FailureRow) -> None:
        """A failed cluster or site is back: each service that moved away from it removes what it
        had to leave there and gives the site back (its `left-behind` repair)."""
        if back.resource.startswith("host:"):
            return  # a host's replicas were re-created elsewhere on its cluster; it comes back empty
        healed = await self.record(self.inventory.measures_answering, f"failure:{back.resource}")
        services = ServiceClient(activity.client(), activity.info().task_queue)
        for row in [m for m in healed if m.state in ("done", "measured")]:
            finding = Finding(kind="left-behind", resource=row.data["cluster"], service_id=row.service_id,
                              detail=f"{back.resource} is back", action="repair-requested")  # fmt: skip
            try:
                await services.repair(row.service_id, RepairRequest(findings=[finding], requested_by=AUTOPILOT))
            except NotRunning:
                pass  # the service is gone: its teardown gave everything back

    @activity.defn(name="autopilot.apply")
    async def apply(self, req: ApplyMeasure) -> str:
        """Carry out a proposal someone approved (the API moved it from `proposed` to `acting`)."""
        row = await self.record(self.inventory.measure, req.measure_id)
        if row is None:
            raise ApplicationError(f"measure {req.measure_id} not found", type="NotFound", non_retryable=True)
        if row.state != "acting":
            return row.state  # not approved, or carried out already
        action = AutopilotAction(id=row.id, service_id=row.service_id, tenant=row.tenant, component=row.component,
                                 kind=row.kind, breach=row.breach, reason=row.reason, replicas=row.data.get("replicas"),
                                 area=row.data.get("area"), mode="auto", decided_at=row.decided_at, before=row.before,
                                 data=row.data)  # fmt: skip
        return await self.act(action)

    @activity.defn(name="autopilot.act")
    async def act(self, action: AutopilotAction) -> str:
        """Carry the action out as the service's own day-2 operation (its request id is the
        measure's id, so a retry is the same operation), or record it as a proposal. Returns the
        measure's state."""
        row = await self.record(self.inventory.measure_recorded, MeasureRow(
            id=action.id, service_id=action.service_id, tenant=action.tenant, component=action.component,
            kind=action.kind, breach=action.breach, reason=action.reason, data=action.data, mode=action.mode,
            state="acting" if action.mode == "auto" else "proposed", decided_at=action.decided_at,
            before=action.before))  # fmt: skip
        if row.state != "acting":
            return row.state
        if action.kind == "heal" and action.data.get("in_place"):
            return await self._request_repair(action)
        op = await self._operation(action)
        if op is None:
            return (await self.record(self.inventory.measure_updated, action.id, state="refused",
                                      detail="no site nearer to the users can take it")).state
        # healing never waits for a maintenance window; scaling and moves respect them
        windows = None if action.kind == "heal" else MaintenanceGate(self.inventory)
        services = ServiceClient(activity.client(), activity.info().task_queue, windows=windows)
        try:
            async with heartbeating():
                record = await services.operate(action.service_id, op)
        except (Refused, NotRunning) as refused:
            state, detail = "refused", str(refused)
        else:
            assert not isinstance(record, Running)
            state = {"succeeded": "done", "refused": "refused"}.get(record.state, "failed")
            detail = f"{record.kind} {record.state}: {record.detail}"
        return (await self.record(self.inventory.measure_updated, action.id, state=state, detail=detail,
                                  acted_at=time.time())).state

    async def _request_repair(self, action: AutopilotAction) -> str:
        """A host's replicas re-created where the cluster has room: the service's own repair (its
        operations log says asked by `autopilot`); the replicas elsewhere never stopped serving."""
        host = action.data["failed"].split(":", 1)[1]
        finding = Finding(kind="host-failed", resource=host, service_id=action.service_id, component=action.component,
                          detail=action.reason, action="repair-requested")  # fmt: skip
        services = ServiceClient(activity.client(), activity.info().task_queue)
        try:
            await services.repair(action.service_id, RepairRequest(findings=[finding], requested_by=AUTOPILOT,
                                                                   request_id=action.id))  # fmt: skip
        except NotRunning as gone:
            return (await self.record(self.inventory.measure_updated, action.id, state="refused",
                                      detail=str(gone))).state
        return (await self.record(self.inventory.measure_updated, action.id, state="done", acted_at=time.time(),
                                  detail="repair requested of the service")).state

    async def _operation(self, action: AutopilotAction) -> Operation | None:
        asked = {"request_id": action.id, "requested_by": AUTOPILOT}
        if action.kind == "heal":  # a failed cluster or site: elsewhere, its workload there not waited for
            return Operation(kind="move", component=action.component, move=MoveRequest(
                away_from=[action.data["site"]], pin=False, source_down=True, **asked))
        if action.kind == "scale":
            return Operation(kind="scale", component=action.component,
                             scale=ScaleRequest(replicas=action.replicas, **asked))
        site = await asyncio.to_thread(self._nearest_site, action)
        if site is None:
            return None
        return Operation(kind="move", component=action.component,
                         move=MoveRequest(site=site, pin=False, outside_window="refuse", **asked))

    def _geography(self, spec: ServiceSpec, component: str, site: str | None,
                   policy: EffectivePolicy) -> planner.Geography | None:
        """For an entry component (users reach it): the latency from every user area of the
        continuum to each site the policy allows — users may now be in areas the spec never named."""
        if site is None or not any(spec.entry_component(a) == component for a in spec.user_areas):
            return None
        with self.live.use() as (continuum, _):
            sites = [s for s in continuum.sites if s == site or policy.allowed_sites is None
                     or s in policy.allowed_sites]  # fmt: skip
            return planner.Geography(site, {a: {s: continuum.area_latency(a, s) for s in sites}
                                            for a in continuum.areas})  # fmt: skip

    def _nearest_site(self, action: AutopilotAction) -> str | None:
        """The site nearest the area the latency breach came from, among those the policy allows,
        other than where the component runs (placement checks it can take the component)."""
        with self.live.use() as (continuum, index):
            here = action.data.get("site")
            allowed = action.data.get("allowed_sites")
            candidates = [s for s in continuum.sites if s != here and (allowed is None or s in allowed)]
            if action.data.get("toward_sites"):
                return self._first_accepted(action, action.data["toward_sites"], index)
            ranked = sorted(candidates, key=lambda s: continuum.area_latency(action.area, s))
        return ranked[0] if ranked else None

    def _first_accepted(self, action: AutopilotAction, ranked: list[str], index: SiteIndex) -> str | None:
        """The first of the sites toward the users (nearest the centre of demand first) that
        placement accepts for the component, the others staying put: a full or ruled-out site is
        passed over here rather than refused by the move (which checks again, and reserves)."""
        row = self.inventory.service(action.service_id)
        if row is None:
            return None
        spec = ServiceSpec.model_validate(row.spec)
        current = {c.name: c.site for c in self.inventory.components(action.service_id)}
        usage = self.inventory.usage()
        return next((s for s in ranked
                     if search_move(spec, action.component, index, usage, current, s).plan is not None), None)

    @activity.defn(name="autopilot.measure")
    async def measure(self, req: AutopilotRound) -> int:
        """Each action done at least `measure_after_seconds` ago: the KPIs over the readings after it
        settled, the difference with the readings before, and whether the breach it answered is gone."""
        now = time.time()
        done = 0
        for row in await self.record(self.inventory.measures_due, now - req.measure_after_seconds):
            since = (row.acted_at or row.decided_at) + req.settle_seconds
            samples = [r for r in await self.record(self.inventory.samples, row.service_id, row.component, since)
                       if r.at - req.window_seconds >= since]  # readings whose whole window is after  # fmt: skip
            after = _mean(samples)
            if not after:
                continue
            effect = {k: after[k] - row.before[k] for k in after if isinstance(row.before.get(k), int | float)}
            await self.record(self.inventory.measure_updated, row.id, state="measured", after=after, effect=effect,
                              helped=_helped(row, after), measured_at=now)
            done += 1
        return done


def _action(req: AutopilotRound, spec: ServiceSpec, policy: EffectivePolicy, decision: planner.Action,
            objectives: planner.Objectives, rows: list[KpiSampleRow], site: str | None) -> AutopilotAction:
    """The decision with what it was decided on: the KPIs over the samples before, the objectives
    (what `measure` judges it by), where the component ran and where it may go."""
    data = {**decision.data, "util_low": objectives.util_low, "util_high": objectives.util_high, "site": site,
            "allowed_sites": policy.allowed_sites, "replicas": decision.replicas, "area": decision.area}
    return AutopilotAction(
        id=f"autopilot-{req.round_id}-{spec.id}", service_id=spec.id, tenant=spec.tenant or "",
        component=decision.component, kind=decision.kind, breach=decision.breach, reason=decision.reason,
        replicas=decision.replicas, area=decision.area, mode=policy.approval, decided_at=rows[-1].at,
        before=_mean(rows[-req.before_samples:]), data=data,
    )


def _worst(failures: dict[str, FailureRow], site: str, cluster: str) -> FailureRow | None:
    """The failure a component is healed from: its site's, else its cluster's, else one of its
    cluster's hosts' (a site down takes its clusters and hosts with it: one heal, the widest)."""
    for key in (f"site:{site}", f"cluster:{cluster}"):
        if key in failures:
            return failures[key]
    hosts = [f for f in failures.values() if f.resource.startswith("host:") and f.cluster == cluster]
    return min(hosts, key=lambda f: f.since) if hosts else None


def _mean(rows: list[KpiSampleRow]) -> dict:
    """The mean of each KPI over the samples (the per-area latencies included), skipping unknowns."""
    out: dict = {}
    for key in KPIS:
        values = [getattr(r, key) for r in rows if getattr(r, key) is not None]
        if values:
            out[key] = sum(values) / len(values)
    areas = sorted({a for r in rows for a in r.latency_p95_ms})
    for area in areas:
        values = [r.latency_p95_ms[area] for r in rows if area in r.latency_p95_ms]
        out[f"latency_p95_ms:{area}"] = sum(values) / len(values)
    return out


def _helped(row: MeasureRow, after: dict) -> bool | None:
    """Whether the breach the action answered is gone over the window after it."""
    data = row.data
    if row.breach in ("utilisation", "utilisation-low"):  # out of the band above, or in without leaving it
        high = data.get("util_high")
        return None if high is None or "cpu_utilisation" not in after else after["cpu_utilisation"] <= high
    if row.breach.startswith("failure:"):  # healed: as many replicas ready as before the failure
        wanted, ready = data.get("replicas"), after.get("ready_replicas")
        return None if wanted is None or ready is None else ready >= wanted
    if row.breach.startswith("latency:"):
        area, wanted = row.breach.split(":", 1)[1], data.get("objective_ms")
        seen = after.get(f"latency_p95_ms:{area}")
        return None if wanted is None or seen is None or math.isnan(seen) else seen <= wanted
    return None
