"""Telemetry of the simulated continuum (the embedded default): the KPIs the simulator derives from
its load model, placements, replicas and faults (legato/simulator/kpis.py), and its hosts',
clusters' and sites' health (legato/simulator/health.py)."""

from __future__ import annotations

import asyncio

from legato.model.telemetry import ComponentKpis, HealthReport, WorkloadToMeasure
from legato.simulator import SimContinuum


class SimTelemetry:
    def __init__(self, continuum: SimContinuum) -> None:
        self.continuum = continuum

    async def components(self, deployed: list[WorkloadToMeasure], window_seconds: float) -> list[ComponentKpis]:
        return await asyncio.to_thread(self.continuum.component_kpis, deployed, window_seconds)

    async def health(self, site: str | None = None) -> HealthReport:
        return await asyncio.to_thread(self.continuum.health, site)
