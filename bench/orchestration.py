"""Orchestration overhead: DeployService against a bare Temporal workflow that runs the same number
of no-op activities in the same pattern (the batches of parallel activities are read from
DeployService's own history), on the same dev server and worker, in the same run. Sim latencies are
zero, so what is measured is what Legato adds to Temporal.

    .venv/bin/python bench/orchestration.py [--quick]

Targets: Legato's throughput >= 50% of the bare workflow's; per-step overhead within 2x of a bare
activity (the ratio of end-to-end times at concurrency 1, both doing the same number of steps)."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateStage
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baseline import BareDeploy, noop  # noqa: E402
from legato.activities.catalog import build_activities  # noqa: E402
from legato.adapters.registry import build_adapters  # noqa: E402
from legato.devserver import DevServer, free_port  # noqa: E402
from legato.embedded import prepare_continuum  # noqa: E402
from legato.inventory import Inventory  # noqa: E402
from legato.model import ServiceSpec  # noqa: E402
from legato.model.operations import Operation, ScaleRequest  # noqa: E402
from legato.temporal import connect  # noqa: E402
from legato.workflows.catalog import WORKFLOWS  # noqa: E402
from legato.workflows.contracts import DeployRequest, service_workflow_id  # noqa: E402
from tests.stack import make_settings  # noqa: E402


def bench_topology(path: Path, sites: int = 10) -> None:
    """Sites with big shared clusters, so every service reuses one: the benchmark is about
    orchestration, not about running out of hosts."""
    areas = [{"id": f"area-{i}", "lat": 48.0 + i * 0.1, "lon": 2.0 + i * 0.1} for i in range(sites)]
    site_list = []
    for i in range(sites):
        hosts = [{"id": f"s{i}-h{j:02d}", "cpu": 64, "memory_mb": 262144} for j in range(40)]
        site_list.append({
            "id": f"site-{i}", "tier": "cloud", "provider": "bench", "region": "r", "country": "FR",
            "lat": 48.0 + i * 0.1, "lon": 2.0 + i * 0.1, "cost_per_vcpu_hour": 0.01 + i * 0.001,
            "hosts": hosts, "clusters": [{"id": f"k8s-{i}", "hosts": [h["id"] for h in hosts]}],
        })
    path.write_text(yaml.safe_dump({"areas": areas, "sites": site_list}))


def service(components: int, tag: str) -> ServiceSpec:
    comps = [{"name": f"c{i}", "image": "bench", "cpu": 0.1, "memory_mb": 64} for i in range(components)]
    links = [{"from": f"c{i}", "to": f"c{i + 1}", "max_latency_ms": 50} for i in range(components - 1)]
    return ServiceSpec.model_validate({
        "id": f"b{components}-{tag}", "name": "bench", "tenant": "bench", "components": comps, "links": links,
        "user_areas": [{"area": "area-0", "max_latency_ms": 40}],
    })


async def batches_of(client: Client, workflow_id: str) -> list[int]:
    """The activity pattern of a run: how many activities each workflow task scheduled at once."""
    batches: dict[int, int] = {}
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            key = event.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
            batches[key] = batches.get(key, 0) + 1
    return [batches[k] for k in sorted(batches)]


async def wait_active(inventory: Inventory, ids: list[str], timeout: float = 600) -> dict[str, float]:
    """When each service became active, from the inventory's own timestamp (no polling error). One
    brief page per tick: polling must not take the CPU the run it measures needs."""
    deadline = time.monotonic() + timeout
    done: dict[str, float] = {}
    wanted = set(ids)
    while len(done) < len(ids) and time.monotonic() < deadline:
        rows, _ = await asyncio.to_thread(inventory.services, None, 0, len(ids), True)  # ours are the newest
        for row in rows:
            if row.id in wanted and row.id not in done and row.state in ("active", "failed"):
                assert row.state == "active", row.error
                done[row.id] = row.updated_at.timestamp()
        await asyncio.sleep(0.25)
    return done


def summary(starts: dict[str, float], ends: dict[str, float]) -> tuple[float, float, float]:
    e2e = sorted(ends[k] - starts[k] for k in starts)
    wall = max(ends.values()) - min(starts.values())
    p95 = e2e[min(len(e2e) - 1, round(0.95 * (len(e2e) - 1)))]
    return len(e2e) / wall, statistics.median(e2e), p95


async def run_legato(client: Client, inventory: Inventory, queue: str, size: int, concurrency: int) -> tuple:
    specs = [service(size, uuid.uuid4().hex[:8]) for _ in range(concurrency)]
    starts = {}
    for spec in specs:
        starts[spec.id] = time.time()
        await client.start_workflow("DeployService", DeployRequest(spec=spec, index_search_attributes=False),
                                    id=service_workflow_id(spec.id), task_queue=queue)
    ends = await wait_active(inventory, list(starts))
    return summary(starts, ends), specs


async def run_bare(client: Client, queue: str, pattern: list[int], concurrency: int) -> tuple:
    starts, handles = {}, {}
    for i in range(concurrency):
        wid = f"bare-{uuid.uuid4().hex[:8]}-{i}"
        starts[wid] = time.time()
        handles[wid] = await client.start_workflow("BareDeploy", pattern, id=wid, task_queue=queue)
    ends = {}

    async def finish(wid: str) -> None:
        await handles[wid].result()
        ends[wid] = time.time()

    await asyncio.gather(*(finish(w) for w in handles))
    return summary(starts, ends)


async def day2_latency(client: Client, spec: ServiceSpec, rounds: int = 5) -> tuple[float, float]:
    handle = client.get_workflow_handle(service_workflow_id(spec.id))
    accepted, completed = [], []
    for i in range(rounds):
        op = Operation(kind="scale", component="c0", scale=ScaleRequest(replicas=2 + i % 2, request_id=f"s{i}"))
        t0 = time.perf_counter()
        update = await handle.start_update("operate", op, id=f"s{i}", wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        accepted.append(time.perf_counter() - t0)
        await update.result()
        completed.append(time.perf_counter() - t0)
    return statistics.median(accepted), statistics.median(completed)


async def main(quick: bool, sizes: tuple[int, ...] = (), concurrencies: tuple[int, ...] = ()) -> None:
    default = ((3, 10), (1, 10)) if quick else ((3, 10, 30), (1, 10, 100))
    sizes, concurrencies = sizes or default[0], concurrencies or default[1]
    with tempfile.TemporaryDirectory(prefix="legato-bench-") as tmp:
        root = Path(tmp)
        topology = root / "bench.yaml"
        bench_topology(topology)
        server = DevServer(root / "temporal.db", port=free_port(), ui_port=None).start()
        try:
            settings = make_settings(root / "legato", server.address).model_copy(update={"topology": topology})
            prepare_continuum(settings)
            inventory = Inventory(settings.inventory_url)
            client = await connect(settings)
            worker = Worker(client, task_queue=settings.task_queue, workflows=[*WORKFLOWS, BareDeploy],
                            activities=[*build_activities(build_adapters(settings), inventory), noop],
                            max_concurrent_activities=200)
            async with worker:
                print(f"cores: {os.cpu_count()}; sim latencies zero; same dev server and worker for both")
                print(f"{'C':>3} {'K':>4} | {'legato svc/s':>12} {'p50':>7} {'p95':>7} | {'bare svc/s':>10} "
                      f"{'p50':>7} {'p95':>7} | {'throughput':>10} {'e2e p50':>8} | steps")
                verdicts = []
                for size in sizes:
                    (_, warm) = await run_legato(client, inventory, settings.task_queue, size, 1)
                    pattern = await batches_of(client, service_workflow_id(warm[0].id))
                    for k in concurrencies:
                        (l_tp, l_50, l_95), _ = await run_legato(client, inventory, settings.task_queue, size, k)
                        b_tp, b_50, b_95 = await run_bare(client, settings.task_queue, pattern, k)
                        ratio, overhead = l_tp / b_tp, l_50 / b_50
                        verdicts.append((size, k, ratio, overhead))
                        print(f"{size:>3} {k:>4} | {l_tp:>12.2f} {l_50:>6.2f}s {l_95:>6.2f}s | {b_tp:>10.2f} "
                              f"{b_50:>6.2f}s {b_95:>6.2f}s | {ratio:>9.0%} {overhead:>7.2f}x | {sum(pattern)} "
                              f"in {len(pattern)} batches")
                accepted, completed = await day2_latency(client, warm[0])
                print(f"day-2 scale update (C={sizes[-1]}): accepted in {accepted * 1000:.0f} ms, completed in "
                      f"{completed * 1000:.0f} ms (median of 5)")
                tp_ok = all(r >= 0.5 for _, _, r, _ in verdicts)
                step_ok = all(o <= 2.0 for _, k, _, o in verdicts if k == 1)
                print(f"target throughput >= 50% of bare: {'PASS' if tp_ok else 'FAIL'} "
                      f"(worst {min(r for _, _, r, _ in verdicts):.0%})")
                alone = [o for _, k, _, o in verdicts if k == 1]
                if alone:  # measured only when concurrency 1 is among those run
                    print(f"target per-step overhead <= 2x at concurrency 1: {'PASS' if step_ok else 'FAIL'} "
                          f"(worst {max(alone):.2f}x)")
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="C in (3, 10), concurrency in (1, 10)")
    parser.add_argument("--sizes", type=int, nargs="*", default=(), help="only these component counts")
    parser.add_argument("--concurrency", type=int, nargs="*", default=(), help="only these concurrencies")
    args = parser.parse_args()
    asyncio.run(main(args.quick, tuple(args.sizes), tuple(args.concurrency)))
