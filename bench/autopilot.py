"""The autopilot against a static deployment and a reactive threshold scaler, on the same
compressed day of the simulated continuum, in one run:

    .venv/bin/python bench/autopilot.py [--day-minutes 4] [--round-seconds 2]

The day (sim time, compressed so a day runs in `--day-minutes` real minutes): a daily curve in
each user area (evening peak), a node that blips for less than the confirmation window at 09:00, a
flash crowd in Paris at 12:00, the site the service runs at losing power at 15:00 (for good), and
40% of Paris' users moving to Lyon from 18:00. The service: one component, two replicas to begin
with, users in Paris and Lyon, SLOs of a utilisation band and a p95 latency per area.

Three ways, each on a fresh Legato (dev server, API, worker, simulator), the same script:

- **static**: nothing acts (the autopilot's policy disabled);
- **reactive**: a threshold scaler like Kubernetes' HPA: every round, when utilisation leaves the
  band, scale to replicas x utilisation / the band's middle (scale-in after five sim-minutes
  below, HPA's stabilisation); no forecast, no healing;
- **autopilot**: Legato's, `approval: auto`, a round as often as the others read.

Every round reads the component's KPIs (the sim's telemetry) and counts **SLO-violation minutes**
(sim minutes when any area's p95 is over its objective, its errors over 1%, or nothing serves it),
**vCPU-hours** (requested replicas x vCPU over sim time), **actions** (operations the scaler or
autopilot ran), and for the site failure the **failover** time: real seconds from the failure to
every component serving its requested replicas again (the autopilot's includes its confirmation
window). It also counts autopilot actions caused by the blip and actions reversed within their
cooldown. Targets (issue 20): autopilot SLO-violation minutes <= half the reactive ones at no more
vCPU-hours; failover <= 60 s; 0 actions from blips; 0 reversed within the cooldown.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from legato.activities.contracts import AutopilotRound  # noqa: E402
from legato.devserver import DevServer, free_port  # noqa: E402
from legato.model import ServiceSpec  # noqa: E402
from legato.model.telemetry import Where, deployed_components  # noqa: E402
from legato.temporal import connect  # noqa: E402
from legato.workflows.autopilot import Autopilot  # noqa: E402
from tests.e2e.calls import active  # noqa: E402
from tests.stack import Stack, running_stack  # noqa: E402

BAND = (0.3, 0.7)
P95_MS = 40.0
MAX_ERRORS = 0.01
CPU = 0.5
HOUR = 3600.0
SPEC = {"name": "shop", "components": [{"name": "web", "image": "registry.example/web", "replicas": 2, "cpu": CPU,
                                        "memory_mb": 256, "placement": {"tiers": ["edge", "regional", "cloud"]}}],
        "user_areas": [{"area": "paris-center", "demand_rps": 300, "max_latency_ms": 50},
                       {"area": "lyon", "demand_rps": 150, "max_latency_ms": 50}],
        "slos": [{"component": "web", "utilisation": list(BAND)},
                 {"component": "web", "p95_latency_ms": P95_MS}]}  # fmt: skip
WINDOW = 2.0  # real seconds each reading averages over (a round)
# CPU-seconds per request: a replica (0.5 vCPU) serves 250 req/s, its p95 in the band's middle about
# 25 ms; the night fits two replicas, the evening peak (720 req/s) about six, the flash crowd more
COST = 0.002


@dataclass
class Tally:
    violation_minutes: float = 0.0
    vcpu_hours: float = 0.0
    actions: int = 0
    failover_seconds: float | None = None
    blip_actions: int = 0
    reversed_in_cooldown: int = 0
    notes: list[str] = field(default_factory=list)


async def run_mode(mode: str, args: argparse.Namespace) -> Tally:
    root = Path(tempfile.mkdtemp(prefix=f"bench-autopilot-{mode}-"))
    server = DevServer(root / "temporal.db", port=free_port(), ui_port=None).start()
    try:
        async with running_stack(root / "legato", server.address) as stack:
            return await day(stack, mode, args)
    finally:
        server.stop()


async def day(stack: Stack, mode: str, args: argparse.Namespace) -> Tally:
    factor = 86_400 / (args.day_minutes * 60)
    confirm = max(2.0, 2 * args.round_seconds)  # real seconds: two rounds of readings
    async with stack.http("operator") as op:
        policy = {"enabled": mode == "autopilot", "approval": "auto", "cooldown_seconds": 10 * args.round_seconds,
                  "max_actions_per_hour": 3600, "max_replicas": 12, "confirm_seconds": confirm}  # fmt: skip
        assert (await op.put("/v1/autopilot/policy", json=policy)).status_code == 200
    service_id = await active(stack, SPEC)
    sim = stack.sim
    start = time.time()
    midnight = start - (start % 86_400)  # the sim day starts at 00:00 UTC now
    sim.set_compression(factor, midnight)
    for area in ("paris-center", "lyon"):
        sim.set_daily_curve(area, 0.6, 20)
    sim.add_flash_crowd("paris-center", midnight + 12 * HOUR, HOUR, 2.5)
    sim.add_user_shift("paris-center", "lyon", midnight + 18 * HOUR, HOUR, 0.4)
    sim.set_request_cost(service_id, "web", COST)
    client = await connect(stack.settings)
    tally, sim_minutes = Tally(), args.round_seconds * factor / 60
    blip_done = failed_at = None
    below_since: float | None = None
    while (now := time.time()) < start + args.day_minutes * 60:
        hour = ((now - start) * factor / HOUR) % 24
        comp = stack.inventory.component(service_id, "web")
        if blip_done is None and hour >= 9:
            node = sorted((await stack.sim_workloads(service_id))[0].nodes)[0]
            sim.fail_node(node)
            await asyncio.sleep(confirm / 3)
            sim.recover_host(node)
            blip_done = node
        if failed_at is None and hour >= 15:
            sim.fail_site(comp.site)
            failed_at = time.time()
            tally.notes.append(f"site {comp.site} lost power at 15:00")
        kpis = await read(stack, service_id)
        tally.vcpu_hours += comp.replicas * CPU * sim_minutes / 60
        if violated(kpis):
            tally.violation_minutes += sim_minutes
        if failed_at is not None and tally.failover_seconds is None and serving(kpis, comp.replicas):
            tally.failover_seconds = time.time() - failed_at
        if mode == "autopilot":
            await client.execute_workflow(Autopilot.run, AutopilotRound(
                window_seconds=args.round_seconds, horizon_steps=3, season_steps=None, before_samples=2,
                settle_seconds=args.round_seconds, measure_after_seconds=3 * args.round_seconds),
                id=f"bench-autopilot-{uuid.uuid4().hex[:8]}", task_queue=stack.settings.task_queue)  # fmt: skip
        elif mode == "reactive":
            below_since = await react(stack, service_id, kpis, comp.replicas, below_since, factor, tally)
        await asyncio.sleep(max(0.0, args.round_seconds - (time.time() - now)))
    if mode == "autopilot":
        await count_autopilot(stack, service_id, blip_done, 10 * args.round_seconds, tally)
    return tally


async def read(stack: Stack, service_id: str):
    spec = ServiceSpec.model_validate(stack.inventory.service(service_id).spec)
    where = {c.name: [Where(c.cluster, c.workload_id, c.site)] for c in stack.inventory.components(service_id)}
    (kpis,) = await stack.adapters.telemetry.components(deployed_components(spec, service_id, where), WINDOW)
    return kpis


def violated(kpis) -> bool:
    if kpis.error_rate is not None and kpis.error_rate > MAX_ERRORS:
        return True
    return any(a.latency_p95_ms is None or a.latency_p95_ms > P95_MS for a in kpis.areas.values()
               if a.request_rate_rps > 0)  # fmt: skip


def serving(kpis, replicas: int) -> bool:
    return (kpis.ready_replicas or 0) >= replicas and (kpis.error_rate or 0) <= MAX_ERRORS


async def react(stack: Stack, service_id: str, kpis, replicas: int, below_since: float | None, factor: float,
                tally: Tally) -> float | None:
    """HPA: desired = ceil(replicas x utilisation / target); up at once, down after five sim-minutes."""
    util = kpis.cpu_utilisation
    if util is None:
        return below_since
    wanted = max(1, min(12, math.ceil(replicas * util / ((BAND[0] + BAND[1]) / 2))))
    now = time.time()
    if util > BAND[1] and wanted > replicas:
        await scale(stack, service_id, wanted, tally)
        return None
    if util < BAND[0] and wanted < replicas:
        if below_since is None:
            return now
        if (now - below_since) * factor >= 300:
            await scale(stack, service_id, wanted, tally)
            return None
        return below_since
    return None


async def scale(stack: Stack, service_id: str, replicas: int, tally: Tally) -> None:
    async with stack.http() as client:
        done = await client.post(f"/v1/services/{service_id}/components/web/scale", json={"replicas": replicas},
                                 params={"timeout": 120}, timeout=180)
    tally.actions += 1
    if done.status_code != 200:
        tally.notes.append(f"scale to {replicas}: {done.status_code}")


async def count_autopilot(stack: Stack, service_id: str, blip: str | None, cooldown: float, tally: Tally) -> None:
    rows, _ = stack.inventory.measures(None, service_id, 0, 10_000)
    acted = sorted((r for r in rows if r.state in ("done", "measured")), key=lambda r: r.decided_at)
    tally.actions = len(acted)
    tally.blip_actions = sum(1 for r in acted if blip and blip in r.breach)
    scales = [r for r in acted if r.kind == "scale"]
    for a, b in zip(scales, scales[1:], strict=False):
        if direction(a) * direction(b) < 0 and b.decided_at - (a.acted_at or a.decided_at) < cooldown:
            tally.reversed_in_cooldown += 1


def direction(row) -> int:
    """+1 for a scale-out, -1 for a scale-in, 0 for neither."""
    change = (row.data.get("replicas") or 0) - (row.before.get("ready_replicas") or 0)
    return (change > 0) - (change < 0)


def report(results: dict[str, Tally], args: argparse.Namespace) -> None:
    print(f"\nautopilot bench: a day in {args.day_minutes:g} real minutes, a round every {args.round_seconds:g} s")
    print(f"{'way':<10} {'SLO-violation min':>18} {'actions':>8} {'vCPU-hours':>11} {'failover s':>11}")
    for mode, t in results.items():
        failover = "never" if t.failover_seconds is None else f"{t.failover_seconds:.1f}"
        print(f"{mode:<10} {t.violation_minutes:>18.0f} {t.actions:>8} {t.vcpu_hours:>11.2f} {failover:>11}")
    auto, reactive = results.get("autopilot"), results.get("reactive")
    if auto and reactive:
        checks = {
            "SLO-violation minutes <= half the reactive's": auto.violation_minutes <= reactive.violation_minutes / 2,
            "vCPU-hours <= the reactive's": auto.vcpu_hours <= reactive.vcpu_hours,
            "failover <= 60 s": auto.failover_seconds is not None and auto.failover_seconds <= 60,
            "0 actions from the blip": auto.blip_actions == 0,
            "0 actions reversed within the cooldown": auto.reversed_in_cooldown == 0,
        }
        for name, ok in checks.items():
            print(f"  {'met' if ok else 'NOT met'}: {name}")
    for mode, t in results.items():
        for note in t.notes:
            print(f"  ({mode}) {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--day-minutes", type=float, default=4.0)
    parser.add_argument("--round-seconds", type=float, default=2.0)
    parser.add_argument("--only", choices=["static", "reactive", "autopilot"], action="append")
    args = parser.parse_args()
    results = {mode: asyncio.run(run_mode(mode, args)) for mode in args.only or ["static", "reactive", "autopilot"]}
    report(results, args)


if __name__ == "__main__":
    main()
