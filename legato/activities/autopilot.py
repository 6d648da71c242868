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
from legato.autopilot.inputs import bounds_for, objectives_for, past_of, sample_row, samples_of
from legato.client import NotRunning, Refused, Running, ServiceClient
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.inventory.measure_tables import KpiSampleRow, MeasureRow
from legato.maintenance import MaintenanceGate
from legato.model.intents import EffectivePolicy, effective_policy
from legato.model.operations import MoveRequest, Operation, ScaleRequest
from legato.model.service import ServiceSpec
from legato.model.telemetry import Where, deployed_components

AUTOPILOT = "autopilot"  # who the operations log says asked
KPIS = ("ready_replicas", "request_rate_rps", "cpu_utilisation", "error_rate")


class AutopilotActivities(ActivityGroup):
    def __init__(self, telemetry: Telemetry, inventory: Inventory, live: LiveContinuum):
        super().__init__(inventory)
        self.telemetry, self.live = telemetry, live

    async def _services(self) -> list[tuple[ServiceSpec, EffectivePolicy]]:
        """Active services with SLOs whose effective policy lets the autopilot act or propose."""
        operator = await self.record(self.inventory.autopilot_policy)
        running = await self.record(self.inventory.running_services)
        found = []
        for spec, _ in running:
            policy = effective_policy(operator, spec)
            if policy.enabled and spec.slos:
                found.append((spec, policy))
        return found

    @activity.defn(name="autopilot.observe")
    async def observe(self, req: AutopilotRound) -> int:
        """One reading of every component the autopilot watches, kept as samples; old ones dropped."""
        rows: list[KpiSampleRow] = []
        async with heartbeating():
            for spec, _ in await self._services():
                where: dict[str, list[Where]] = {}
                for c in await self.record(self.inventory.components, spec.id):
                    where.setdefault(c.name, []).append(Where(c.cluster, c.workload_id, c.site))
                kpis = await self.telemetry.components(deployed_components(spec, spec.id, where), req.window_seconds)
                rows += [sample_row(k) for k in kpis]
        await self.record(self.inventory.samples_recorded, rows)
        await self.record(self.inventory.samples_pruned, time.time() - req.history_seconds)
        return len(rows)

    @activity.defn(name="autopilot.plan")
    async def plan(self, req: AutopilotRound) -> list[AutopilotAction]:
        """At most one action per service (its first component in need, in spec order); what is held
        back, and why, goes to the worker's log and the round's summary."""
        now = time.time()
        actions: list[AutopilotAction] = []
        for spec, policy in await self._services():
            past = past_of(await self.record(self.inventory.measures_of, spec.id, now - planner.HOUR))
            for comp in spec.components:
                objectives = objectives_for(spec, comp.name)
                if objectives is None:
                    continue
                rows = await self.record(self.inventory.samples, spec.id, comp.name, now - req.history_seconds)
                decision = planner.plan(comp.name, samples_of(rows), objectives, bounds_for(policy), past, now,
                                        req.horizon_steps, req.season_steps)
                if isinstance(decision, planner.Held):
                    activity.logger.info("autopilot holds %s/%s: %s", spec.id, comp.name, decision.reason)
                elif decision is not None:
                    at = await self.record(self.inventory.component, spec.id, comp.name)
                    site = at.site if at else None
                    actions.append(_action(req, spec, policy, decision, objectives, rows, site))
                    break
        return actions

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
        op = await self._operation(action)
        if op is None:
            return (await self.record(self.inventory.measure_updated, action.id, state="refused",
                                      detail="no site nearer to the users can take it")).state
        services = ServiceClient(activity.client(), activity.info().task_queue, windows=MaintenanceGate(self.inventory))
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

    async def _operation(self, action: AutopilotAction) -> Operation | None:
        asked = {"request_id": action.id, "requested_by": AUTOPILOT}
        if action.kind == "scale":
            return Operation(kind="scale", component=action.component,
                             scale=ScaleRequest(replicas=action.replicas, **asked))
        site = await asyncio.to_thread(self._nearest_site, action)
        if site is None:
            return None
        return Operation(kind="move", component=action.component,
                         move=MoveRequest(site=site, pin=False, outside_window="refuse", **asked))

    def _nearest_site(self, action: AutopilotAction) -> str | None:
        """The site nearest the area the latency breach came from, among those the policy allows,
        other than where the component runs (placement checks it can take the component)."""
        with self.live.use() as (continuum, _):
            here = action.data.get("site")
            allowed = action.data.get("allowed_sites")
            candidates = [s for s in continuum.sites if s != here and (allowed is None or s in allowed)]
            ranked = sorted(candidates, key=lambda s: continuum.area_latency(action.area, s))
        return ranked[0] if ranked else None

    @activity.defn(name="autopilot.measure")
    async def measure(self, req: AutopilotRound) -> int:
        """Each action done at least `measure_after_seconds` ago: the KPIs over the readings after it
        settled, the difference with the readings before, and whether the breach it answered is gone."""
        now = time.time()
        done = 0
        for row in await self.record(self.inventory.measures_due, now - req.measure_after_seconds):
            since = (row.acted_at or row.decided_at) + req.settle_seconds
            samples = [r for r in await self.record(self.inventory.samples, row.service_id, row.component, since)
                       if r.at > since]  # fmt: skip
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
    if row.breach.startswith("latency:"):
        area, wanted = row.breach.split(":", 1)[1], data.get("objective_ms")
        seen = after.get(f"latency_p95_ms:{area}")
        return None if wanted is None or seen is None or math.isnan(seen) else seen <= wanted
    return None
