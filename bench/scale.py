"""Scale: a continuum of 10,000 sites and 100,000 hosts with 10,000 active services in the inventory.

    .venv/bin/python bench/scale.py            # 10,000 sites, 100,000 hosts, 10,000 services
    .venv/bin/python bench/scale.py --quick    # a tenth of each

The API and the worker run as their own processes (uvicorn, `python -m legato.worker`) on a real
Temporal dev server, as `legato up` runs them. The services are written into the inventory
directly, as if deployed (deploying 10,000 through Temporal would measure throughput, which
`bench/orchestration.py` does); a few more are then deployed through the API and DeployService.

It prints:
- list calls (`GET /v1/services`, `/v1/sites`, `/v1/hosts`, pages of 100 at random offsets): p50/p99,
  against a baseline in the same run, an authenticated `GET /v1/services/{id}` that finds nothing
  (the HTTP, auth and one-lookup floor). Target: p99 <= 100 ms.
- placement inside DeployService (the `placement.place` activity, from the workflow histories),
  against the engine alone on the same continuum in this process; the first decision of the worker
  (which builds its copy of the continuum) separately.
- the resident memory of the API and the worker (peak and now). Target: together under 2 GiB.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml
from temporalio.api.enums.v1 import EventType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from legato.config import Settings  # noqa: E402
from legato.devserver import DevServer, free_port, wait_for_port  # noqa: E402
from legato.embedded import prepare_continuum  # noqa: E402
from legato.inventory import Inventory  # noqa: E402
from legato.inventory.tables import ComponentRow, ServiceRow  # noqa: E402
from legato.model import ServiceSpec  # noqa: E402
from legato.placement import SiteIndex, place  # noqa: E402
from legato.temporal import connect  # noqa: E402
from legato.workflows.contracts import service_workflow_id  # noqa: E402

CITIES = [("paris", 48.86, 2.35, "FR"), ("lyon", 45.76, 4.84, "FR"), ("berlin", 52.52, 13.40, "DE"),
          ("frankfurt", 50.11, 8.68, "DE"), ("milan", 45.46, 9.19, "IT"), ("rome", 41.90, 12.50, "IT"),
          ("madrid", 40.42, -3.70, "ES"), ("amsterdam", 52.37, 4.90, "NL"), ("warsaw", 52.23, 21.01, "PL"),
          ("vienna", 48.21, 16.37, "AT")]
# tier: (share of sites, hosts per site, vCPU per host, spread in degrees, cost range)
TIERS = {"cloud": (0.02, 100, 96, 0.3, (0.012, 0.025)), "regional": (0.08, 30, 64, 1.0, (0.025, 0.040)),
         "edge": (0.30, 10, 32, 0.6, (0.035, 0.060)), "far-edge": (0.60, 4, 16, 0.25, (0.050, 0.090))}
TENANTS = 100


def topology_doc(n_sites: int, n_hosts: int, seed: int) -> dict:
    """Sites over ten cities by tier, host groups scaled so the continuum has `n_hosts` hosts; the
    clouds and regional sites run a shared cluster on half their hosts."""
    rng = random.Random(seed)
    plan = []
    for tier, (share, hosts, *_rest) in TIERS.items():
        plan += [(tier, hosts)] * max(1, round(share * n_sites))
    plan = plan[:n_sites]
    scale = n_hosts / sum(h for _, h in plan)
    counts = [max(1, math.floor(h * scale)) for _, h in plan]
    for k in range(n_hosts - sum(counts)):  # the rounding's remainder, one more host here and there
        counts[k * 7919 % len(counts)] += 1
    sites = []
    for k, (tier, _) in enumerate(plan):
        _, _, cpu, spread, (lo, hi) = TIERS[tier]
        name, lat, lon, cc = CITIES[k % len(CITIES)]
        count = counts[k]
        sid = f"{name}-{tier}-{k}"
        features = ["sriov"] if tier in ("far-edge", "edge") else ["nvme"]
        site = {"id": sid, "tier": tier, "provider": "bench", "region": cc, "country": cc,
                "lat": round(lat + rng.gauss(0, spread), 4), "lon": round(lon + rng.gauss(0, spread * 1.4), 4),
                "cost_per_vcpu_hour": round(rng.uniform(lo, hi), 4),
                "host_groups": [{"prefix": f"{sid}-h", "count": count, "cpu": cpu, "memory_mb": cpu * 4096,
                                 "features": features}]}
        if tier in ("cloud", "regional"):
            width = max(2, len(str(count)))  # the loader numbers a group's hosts zero-padded
            members = [f"{sid}-h{i:0{width}d}" for i in range(1, count // 2 + 1)]
            site["clusters"] = [{"id": f"{sid}-k8s", "hosts": members}]
        sites.append(site)
    areas = [{"id": f"{name}-center", "region": cc, "lat": lat, "lon": lon} for name, lat, lon, cc in CITIES]
    return {"areas": areas, "sites": sites}


def spec_of(i: int, tenant: str) -> ServiceSpec:
    name, *_ = CITIES[i % len(CITIES)]
    return ServiceSpec.model_validate({
        "id": f"svc-{i:05d}", "name": f"app-{i}", "tenant": tenant,
        "components": [{"name": "edge", "image": "bench/edge", "cpu": 1, "memory_mb": 1024, "features": ["sriov"]},
                       {"name": "api", "image": "bench/api", "cpu": 0.5, "memory_mb": 512, "replicas": 2},
                       {"name": "db", "image": "bench/db", "cpu": 1, "memory_mb": 2048}],
        "links": [{"from": "edge", "to": "api", "max_latency_ms": 15},
                  {"from": "api", "to": "db", "max_latency_ms": 30}],
        "user_areas": [{"area": f"{name}-center", "component": "edge", "max_latency_ms": 10}],
    })


def seed_services(inventory: Inventory, topology, n: int) -> None:
    """Active services, written as DeployService leaves them (spec, placement, components on the
    shared clusters), without deploying them."""
    clusters = [c for s in topology.sites.values() for c in s.clusters]
    rows, comps = [], []
    for i in range(n):
        tenant = f"t{i % TENANTS:03d}"
        spec = spec_of(i, tenant)
        cluster = clusters[i % len(clusters)]
        rows.append(ServiceRow(id=spec.id, tenant=tenant, name=spec.name, state="active",
                               spec=spec.model_dump(mode="json", by_alias=True)))
        for c in spec.components:
            comps.append(ComponentRow(service_id=spec.id, name=c.name, site=cluster.site, cluster=cluster.id,
                                      workload_id=f"{spec.id}-{c.name}", image=c.image, version=c.version,
                                      replicas=c.replicas, cpu=c.cpu, memory_mb=c.memory_mb))
    with inventory.session() as s:
        s.add_all(rows)
        s.add_all(comps)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def timed_gets(client: httpx.AsyncClient, paths: list[str]) -> list[float]:
    out = []
    for path in paths:
        t0 = time.perf_counter()
        resp = await client.get(path)
        out.append(time.perf_counter() - t0)
        assert resp.status_code in (200, 404), (path, resp.status_code, resp.text[:200])
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settle(pids: list[int], timeout: float = 300) -> float:
    """Wait until the processes stop working (their start-up read of the continuum), so the
    measurements that follow see them as they serve, not as they start."""
    start, last, quiet = time.monotonic(), sum(cpu_seconds(p) for p in pids), 0
    while quiet < 2 and time.monotonic() - start < timeout:
        await asyncio.sleep(1)
        now = sum(cpu_seconds(p) for p in pids)
        quiet = quiet + 1 if now - last < 0.1 else 0
        last = now
    return time.monotonic() - start


def memory_mb(pid: int) -> tuple[float, float]:
    """(now, peak) resident memory of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def placement_seconds(client, workflow_id: str) -> float:
    scheduled = started = None
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            kind = event.activity_task_scheduled_event_attributes.activity_type.name
            if kind == "placement.place":
                scheduled = event.event_id
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            if event.activity_task_started_event_attributes.scheduled_event_id == scheduled:
                started = event.event_time.ToDatetime()
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED and started is not None:
            if event.activity_task_completed_event_attributes.scheduled_event_id == scheduled:
                return (event.event_time.ToDatetime() - started).total_seconds()
    raise RuntimeError(f"{workflow_id}: no completed placement")


async def main(n_sites: int, n_hosts: int, n_services: int, rounds: int, deploys: int) -> int:
    work = Path(tempfile.mkdtemp(prefix="legato-scale-"))
    topo_file = work / "topology.yaml"
    topo_file.write_text(yaml.safe_dump(topology_doc(n_sites, n_hosts, seed=1), sort_keys=False))
    tokens = {f"t{i:03d}": f"tok-{i:03d}" for i in range(TENANTS)} | {"operator": "tok-operator"}
    server = DevServer(work / "temporal.db", port=free_port(), ui_port=None, log_file=work / "temporal.log").start()
    settings = Settings(data_dir=work / "legato", temporal_address=server.address, topology=topo_file,
                        task_queue=f"scale-{uuid.uuid4().hex[:6]}", sim_profile="instant",
                        api_tokens=",".join(f"{tok}={ten}" for ten, tok in tokens.items()),
                        api_tokens_file=work / "none.yaml", api_port=free_port())
    procs: list[subprocess.Popen] = []
    try:
        t0 = time.perf_counter()
        summary = prepare_continuum(settings)
        loaded = time.perf_counter() - t0
        inventory = Inventory(settings.inventory_url)
        topology = inventory.topology()
        t0 = time.perf_counter()
        seed_services(inventory, topology, n_services)
        seeded = time.perf_counter() - t0
        print(f"continuum: {summary['sites']:,} sites, {summary['hosts']:,} hosts, {summary['clusters']:,} clusters "
              f"(loaded into the inventory and the simulator in {loaded:.1f} s); {n_services:,} active services "
              f"of {TENANTS} tenants (written in {seeded:.1f} s)")

        env = {**os.environ, "LEGATO_DATA_DIR": str(settings.data_dir), "LEGATO_TEMPORAL_ADDRESS": server.address,
               "LEGATO_TASK_QUEUE": settings.task_queue, "LEGATO_TOPOLOGY": str(topo_file),
               "LEGATO_API_TOKENS": settings.api_tokens.get_secret_value(),
               "LEGATO_API_TOKENS_FILE": str(settings.api_tokens_file), "LEGATO_SIM_PROFILE": "instant",
               "LEGATO_LOG_FORMAT": "text",
               # the seeded services exist in the inventory only, so a reconciliation would find every one
               # drifted and a rebalancing would re-place them all: not what a running continuum does
               "LEGATO_RECONCILE_EVERY_SECONDS": "86400", "LEGATO_REBALANCE_EVERY_SECONDS": "86400"}
        api = subprocess.Popen([sys.executable, "-m", "uvicorn", "legato.api.main:app", "--host", "127.0.0.1",
                                "--port", str(settings.api_port), "--log-level", "warning"], env=env,
                               stdout=open(work / "api.log", "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
        worker = subprocess.Popen([sys.executable, "-m", "legato.worker"], env=env,
                                  stdout=open(work / "worker.log", "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
        procs += [api, worker]
        wait_for_port(settings.api_port, 60, api)
        took = await settle([api.pid, worker.pid])
        print(f"API and worker read the continuum at start-up: busy for {took:.0f} s")
        base = f"http://127.0.0.1:{settings.api_port}"
        rng = random.Random(5)
        admin = httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer tok-operator"}, timeout=60)
        tenant = httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer tok-007"}, timeout=60)
        async with admin, tenant:
            await timed_gets(admin, ["/v1/services?limit=1", "/v1/sites?limit=1"])  # warm up
            top = lambda total: max(0, total - 100)  # noqa: E731
            cases = {
                "baseline: GET /v1/services/{unknown}": (admin, [f"/v1/services/nope-{i}" for i in range(rounds)]),
                "GET /v1/services (operator, all)": (admin, [f"/v1/services?offset={rng.randint(0, top(n_services))}"
                                                             f"&limit=100" for _ in range(rounds)]),
                "GET /v1/services (one tenant)": (tenant, ["/v1/services?limit=100"] * rounds),
                "GET /v1/sites": (admin, [f"/v1/sites?offset={rng.randint(0, top(n_sites))}&limit=100"
                                          for _ in range(rounds)]),
                "GET /v1/hosts": (tenant, [f"/v1/hosts?offset={rng.randint(0, top(n_hosts))}&limit=100"
                                           for _ in range(rounds)]),
            }
            print(f"\nlist calls, {rounds} each, pages of 100 at random offsets:")
            print(f"{'call':<40} {'p50 ms':>8} {'p99 ms':>8} {'p99 / baseline':>15}")
            base_p99 = None
            verdict_lists = True
            for label, (client, paths) in cases.items():
                times = await timed_gets(client, paths)
                p50, p99 = pct(times, 0.5) * 1000, pct(times, 0.99) * 1000
                base_p99 = base_p99 or p99
                if not label.startswith("baseline"):
                    verdict_lists &= p99 <= 100
                print(f"{label:<40} {p50:8.1f} {p99:8.1f} {p99 / base_p99:14.1f}x")

            # deployments through the API and DeployService, placed on the whole continuum
            specs = [spec_of(n_services + i, "t007") for i in range(deploys)]
            posted = []
            deadline = time.monotonic() + 600
            for spec in specs:  # one at a time: each decision is timed alone
                t0 = time.perf_counter()
                resp = await tenant.post("/v1/services", json=spec.model_dump(mode="json", by_alias=True,
                                                                                exclude={"tenant"}))
                posted.append(time.perf_counter() - t0)
                assert resp.status_code == 202, resp.text
                while True:
                    state = (await tenant.get(f"/v1/services/{spec.id}")).json().get("state")
                    if state in ("active", "failed"):
                        assert state == "active", (await tenant.get(f"/v1/services/{spec.id}")).json()
                        break
                    assert time.monotonic() < deadline, f"{spec.id} stuck in {state}"
                    await asyncio.sleep(0.2)
        temporal = await connect(settings)
        inside = [await placement_seconds(temporal, service_workflow_id(s.id)) for s in specs]
        index = SiteIndex(inventory.topology())
        usage = inventory.usage()
        alone = []
        for spec in specs:
            t0 = time.perf_counter()
            place(spec, index, usage)
            alone.append(time.perf_counter() - t0)
        print(f"\nplacement of {deploys} services (3 components, a latency chain, users in one city):")
        print(f"  inside DeployService (the activity, from the histories): first {inside[0] * 1000:.0f} ms, "
              f"then median {statistics.median(inside[1:]) * 1000:.0f} ms")
        print(f"  the engine alone on the same continuum, in this process: median "
              f"{statistics.median(alone) * 1000:.0f} ms"
              f"  -> activity / engine: {statistics.median(inside[1:]) / statistics.median(alone):.1f}x")
        print(f"  POST /v1/services (validation against the continuum): first {posted[0] * 1000:.0f} ms, "
              f"then median {statistics.median(posted[1:]) * 1000:.0f} ms")

        (api_now, api_peak), (wk_now, wk_peak) = memory_mb(api.pid), memory_mb(worker.pid)
        dev_now, _ = memory_mb(server.proc.pid)
        total_peak = api_peak + wk_peak
        print("\nresident memory (MiB): now / peak")
        print(f"  API     {api_now:7.0f} / {api_peak:7.0f}")
        print(f"  worker  {wk_now:7.0f} / {wk_peak:7.0f}")
        print(f"  (Temporal dev server {dev_now:.0f}, not counted)")
        print("\nverdicts:")
        print(f"  list calls p99 <= 100 ms for a page of 100: {'PASS' if verdict_lists else 'FAIL'}")
        print(f"  worker + API under 2 GiB (peaks {total_peak:.0f} MiB): {'PASS' if total_peak < 2048 else 'FAIL'}")
        return 0 if verdict_lists and total_peak < 2048 else 1
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the continuum and services")
    parser.add_argument("--rounds", type=int, default=300, help="calls per list measurement")
    parser.add_argument("--deploys", type=int, default=6, help="services deployed through DeployService")
    args = parser.parse_args()
    k = 10 if args.quick else 1
    sys.exit(asyncio.run(main(10_000 // k, 100_000 // k, 10_000 // k, args.rounds, args.deploys)))
