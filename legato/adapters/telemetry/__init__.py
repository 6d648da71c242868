"""Telemetry: what the autopilot and self-healing read of the continuum. Read by activities, never
by workflows (a reading is not deterministic).

Two questions. `components`: per deployed component (its cluster and workload, its site, the user
areas entering the service at it, the components calling it), over a window of real seconds ending
now: request rate, p95 latency seen from each user area (network plus time to be served), error
rate, CPU utilisation of what its ready replicas asked for, ready replicas. `health`: each host,
cluster and site, healthy or not and why, as it is now (one reading: confirming a failure over a
window that tolerates blips is the reader's job).

The contract every backend keeps (the sim; Prometheus, except the rows its docstring names: a BMC's
power and free hosts, which it does not see); `tests/contract/test_telemetry_contract.py` holds
each rule, a source's gaps marked there, and the next backend proves itself by passing it:

| call | rule |
|---|---|
| `components` | one answer per deployed component, in the order asked, naming it (service, component, |
| | cluster, workload, site) |
| | `since`/`until`: the window, `until` now, `until - since` the `window_seconds` asked |
| | `window_seconds` <= 0 → InvalidRequest |
| | a workload the source does not see → every figure None (never a guess) |
| | `request_rate_rps` >= 0, the sum of its `areas`' rates for an entry component |
| | `error_rate` in [0, 1], None when no request came |
| | `cpu_utilisation` of the CPU its ready replicas asked for (> 1: overloaded); None while none was ready |
| | `ready_replicas`: ready now (a replica starting or being replaced is not) |
| | `areas[a].latency_p95_ms` >= the network latency from `a` to the site; None when nothing served `a`'s requests |
| | nothing ready anywhere for an area's users: its requests fail (`error_rate` 1), no latency |
| `health` | every host, cluster and site the source sees (of `site`, or all), each `healthy` or not with a `reason` |
| | a host powered off at its BMC: unhealthy, "power off" (a node: "power off: node NotReady") |
| | a free host powered off is idle: healthy |
| | a node NotReady on a host still on: unhealthy, "node NotReady" |
| | a cluster whose API does not answer: "API unreachable"; all its nodes down: "every node NotReady" |
| | a site whose every host in use is down: "every host down" |
| | as it is now: a host back on is healthy at the next reading |
"""

from typing import Protocol

from legato.model.telemetry import ComponentKpis, HealthReport, WorkloadToMeasure


class Telemetry(Protocol):
    async def components(self, deployed: list[WorkloadToMeasure], window_seconds: float) -> list[ComponentKpis]:
        """KPIs of each deployed component over the last `window_seconds` (real seconds). Ask for a
        service's components together: an entry component's users and a linked component's calls
        are routed among the workloads asked (see docs/design.md, "Telemetry")."""
        ...

    async def health(self, site: str | None = None) -> HealthReport:
        """Hosts, clusters and sites (of `site`, or all) as they are now."""
        ...
