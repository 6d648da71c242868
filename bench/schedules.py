"""The web shop scaled down every night and back up every weekday morning, over one simulated week:
the vCPU-hours it held, against the same week unscheduled.

    .venv/bin/python bench/schedules.py [--once]

A whole Legato (Temporal dev server, worker, HTTP API, the simulated continuum) deploys
deploy/examples/web-shop.yaml and gives it the README's schedules through the API: `api` and
`frontend` down to 1 replica at 22:00 Paris time every day, back to 2 at 06:30 on weekdays. Sim time
is compressed: the week (the last full Monday-to-Sunday before today) is not waited for; each of
its scheduled times is backfilled through Temporal, in order, as the Schedule would have started
it, and the next waits until that run has ended. Each time is backfilled twice (unless `--once`):
the second run must apply nothing.

The replicas each component runs after every run are read from the simulator (what the backend
runs, not what was asked), and the vCPU-hours are the integral of replicas x vCPU over the week.
The week starts as the schedules left it: the last run of each before the week is applied first.
The baseline is the same week unscheduled: the replicas the spec deploys, all week. The bench
checks its own figures: every run succeeded, the backend was asked once per change, and exit code
1 otherwise."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from legato.devserver import DevServer, free_port  # noqa: E402
from legato.model.names import run_request_id
from legato.model.schedules import ScheduleDefinition  # noqa: E402
from legato.recurrence import occurrences, zone  # noqa: E402
from legato.temporal import connect  # noqa: E402
from tests.schedules import backfill  # noqa: E402
from tests.specs import example  # noqa: E402
from tests.stack import Stack, running_stack  # noqa: E402

TZ = "Europe/Paris"


def scale(component: str, replicas: int) -> dict:
    return {"kind": "scale", "component": component, "scale": {"replicas": replicas}}


# The README's example: the shop runs on one replica of each stateless tier at night.
SCHEDULES = [
    {"name": f"night-{c}", "cron": "0 22 * * *", "time_zone": TZ, "operation": scale(c, 1)}
    for c in ("api", "frontend")
] + [
    {"name": f"morning-{c}", "calendar": [{"hour": 6, "minute": 30, "day_of_week": "mon-fri"}], "time_zone": TZ,
     "operation": scale(c, 2)}
    for c in ("api", "frontend")
]


def week() -> tuple[datetime, datetime]:
    """The last full week (Monday 00:00 to Monday 00:00, Paris time) before today."""
    today = datetime.now(zone(TZ)).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday() + 7)
    return monday.astimezone(UTC), (monday + timedelta(days=7)).astimezone(UTC)


def times_of(body: dict, since: datetime, until: datetime) -> list[datetime]:
    """When the schedule runs in [since, until), read as Temporal reads it (legato.recurrence)."""
    definition = ScheduleDefinition.model_validate(body)
    tz = zone(definition.time_zone)
    found = sorted({t for cal in definition.calendars() for t in occurrences(cal, tz, since, until) if t < until})
    return found


async def replicas(stack: Stack, service_id: str) -> dict[str, int]:
    """What each component runs now, as the simulated backend reports it."""
    return {w.component: w.replicas for w in await stack.sim_workloads(service_id)}


async def run(twice: bool) -> int:
    spec = example("web-shop")
    cpu = {c["name"]: float(c.get("cpu", 0.5)) for c in spec["components"]}
    deployed = {c["name"]: int(c.get("replicas", 1)) for c in spec["components"]}
    start, end = week()
    with tempfile.TemporaryDirectory(prefix="legato-bench-schedules-") as tmp:
        server = DevServer(Path(tmp) / "temporal.db", port=free_port(), ui_port=None,
                           log_file=Path(tmp) / "temporal.log")
        server.start()
        try:
            async with running_stack(Path(tmp) / "legato", server.address) as stack:
                return await _week(stack, spec, cpu, deployed, start, end, twice)
        finally:
            server.stop()


async def _week(stack: Stack, spec: dict, cpu: dict[str, float], deployed: dict[str, int], start: datetime,
                end: datetime, twice: bool) -> int:
    service_id = await stack.deploy(spec)
    svc = await stack.wait_state(service_id, {"active", "failed"})
    assert svc["state"] == "active", svc.get("error")
    client = await connect(stack.settings)
    ids = {}
    async with stack.http() as http:
        for body in SCHEDULES:
            resp = await http.post(f"/v1/services/{service_id}/schedules", json=body)
            assert resp.status_code == 201, resp.text
            ids[body["name"]] = resp.json()["schedule_id"]
    # the week starts as the schedules left it: each one's last run before it, in order
    warm_up = sorted((times_of(b, start - timedelta(days=7), start)[-1], b["name"]) for b in SCHEDULES)
    runs = sorted((t, b["name"]) for b in SCHEDULES for t in times_of(b, start, end))
    local = "%a %Y-%m-%d %H:%M"
    print(f"web-shop ({service_id}): {len(SCHEDULES)} schedules; simulated week "
          f"{start.astimezone(zone(TZ)).strftime(local)} to {end.astimezone(zone(TZ)).strftime(local)} ({TZ}): "
          f"{len(runs)} scheduled runs{', each backfilled twice' if twice else ''}", flush=True)
    problems: list[str] = []
    started = time.monotonic()
    for at, name in warm_up:
        outcome = await backfill(client, ids[name], at, timeout=120)
        if outcome.state != "succeeded":
            problems.append(f"warm-up {name} {at:%Y-%m-%d %H:%M}Z: {outcome.state} {outcome.detail}")
    timeline: list[tuple[datetime, dict[str, int]]] = [(start, await replicas(stack, service_id))]
    print(f"{'when (Paris)':<18} {'schedule':<17} {'outcome':<10} {'asked':>5}  replicas after", flush=True)
    for at, name in runs:
        outcomes = [await backfill(client, ids[name], at, timeout=120) for _ in range(2 if twice else 1)]
        rid = run_request_id(ids[name], at)
        asked = [op for op in stack.sim_ops("wdm.scale") if f"/op/{rid}/" in op]
        now = await replicas(stack, service_id)
        timeline.append((at, now))
        changed = now != timeline[-2][1]
        print(f"{at.astimezone(zone(TZ)):%a %d %H:%M}       {name:<17} {outcomes[0].state:<10} {len(asked):>5}  "
              + ", ".join(f"{c} {n}" for c, n in sorted(now.items())), flush=True)
        if any(o.state != "succeeded" for o in outcomes) or {o.request_id for o in outcomes} != {rid}:
            problems.append(f"{name} {at:%Y-%m-%d %H:%M}Z: {[(o.state, o.detail) for o in outcomes]}")
        if len(asked) != (1 if changed else 0):
            problems.append(f"{name} {at:%Y-%m-%d %H:%M}Z: the backend was asked {len(asked)} times")
    wall = time.monotonic() - started
    async with stack.http() as http:
        assert (await http.delete(f"/v1/services/{service_id}")).status_code == 202
    await stack.wait_state(service_id, {"terminated"})

    scheduled = 0.0
    for (at, now), (following, _) in zip(timeline, [*timeline[1:], (end, {})], strict=True):
        hours = (following - at).total_seconds() / 3600
        scheduled += hours * sum(cpu[c] * n for c, n in now.items())
    baseline = (end - start).total_seconds() / 3600 * sum(cpu[c] * n for c, n in deployed.items())
    print()
    print(f"vCPU-hours over the week: scheduled {scheduled:.1f}, unscheduled {baseline:.1f}; "
          f"saved {baseline - scheduled:.1f} ({(baseline - scheduled) / baseline:.1%}); "
          f"ratio scheduled/unscheduled {scheduled / baseline:.3f}")
    print(f"sim time compressed: {(end - start).total_seconds() / 3600:.0f} h of schedule in {wall:.1f} s of runs "
          f"({(end - start).total_seconds() / wall:,.0f}x)")
    for p in problems:
        print(f"PROBLEM: {p}")
    print("verdict:", "every run succeeded and applied once" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="backfill each time once (default: twice)")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(twice=not args.once)))


if __name__ == "__main__":
    main()
