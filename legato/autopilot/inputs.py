"""The planner's inputs from Legato's records: a component's objectives from the spec's SLOs, the
bounds from the effective autopilot policy, a sample from a telemetry reading, the service's past
actions from the measures database. Kept apart from the planner so it stays free of Legato's types."""

from __future__ import annotations

from legato.autopilot.plan import Bounds, Objectives, Past, Sample
from legato.inventory.measure_tables import KpiSampleRow, MeasureRow
from legato.model.intents import EffectivePolicy
from legato.model.service import ServiceSpec
from legato.model.telemetry import ComponentKpis

DEFAULT_BAND = (0.3, 0.75)  # a component whose SLOs name latency or errors only: scale for them in this band


def objectives_for(spec: ServiceSpec, component: str) -> Objectives | None:
    """What the component must get, from its SLOs; None when it has none (nothing to act for)."""
    slos = [s for s in spec.slos if s.component == component]
    if not slos:
        return None
    band = next((s.utilisation for s in slos if s.utilisation is not None), DEFAULT_BAND)
    entry_areas = [a.area for a in spec.user_areas if spec.entry_component(a) == component]
    p95: dict[str, float] = {}
    for slo in slos:
        if slo.p95_latency_ms is None:
            continue
        for area in [slo.area] if slo.area else entry_areas:
            p95[area] = min(p95.get(area, slo.p95_latency_ms), slo.p95_latency_ms)
    errors = [s.max_error_rate for s in slos if s.max_error_rate is not None]
    return Objectives(util_low=band[0], util_high=band[1], p95_ms=p95, max_error_rate=min(errors) if errors else None)


def bounds_for(policy: EffectivePolicy) -> Bounds:
    return Bounds(scale=policy.allows("scale"), move=policy.allows("move"), max_replicas=policy.max_replicas,
                  cooldown_seconds=policy.cooldown_seconds, max_actions_per_hour=policy.max_actions_per_hour)


def sample_row(kpis: ComponentKpis) -> KpiSampleRow:
    return KpiSampleRow(service_id=kpis.service_id, component=kpis.component, at=kpis.until,
                        ready_replicas=kpis.ready_replicas, request_rate_rps=kpis.request_rate_rps,
                        cpu_utilisation=kpis.cpu_utilisation, error_rate=kpis.error_rate,
                        latency_p95_ms={a: k.latency_p95_ms for a, k in kpis.areas.items()
                                        if k.latency_p95_ms is not None},
                        area_rps={a: k.request_rate_rps for a, k in kpis.areas.items()})  # fmt: skip


def samples_of(rows: list[KpiSampleRow]) -> list[Sample]:
    """The readings the planner can use: a reading without replicas, load or utilisation (nothing
    was ready, the source saw nothing) tells it nothing and is left out."""
    return [Sample(at=r.at, replicas=r.ready_replicas, request_rate=r.request_rate_rps,
                   utilisation=r.cpu_utilisation, error_rate=r.error_rate or 0.0, p95_ms=dict(r.latency_p95_ms),
                   area_rps=dict(r.area_rps or {}))
            for r in rows if r.ready_replicas and r.request_rate_rps is not None
            and r.cpu_utilisation is not None]  # fmt: skip


def past_of(rows: list[MeasureRow]) -> list[Past]:
    return [Past(at=r.decided_at, kind=r.kind, component=r.component, breach=r.breach, helped=r.helped)
            for r in rows if r.state != "refused"]  # fmt: skip
