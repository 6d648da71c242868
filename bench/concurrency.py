"""Concurrent deployments on a shared continuum: N services submitted at once, decided by several
worker processes sharing one inventory, must never collide.

    .venv/bin/python bench/concurrency.py [--sizes 10 50 100] [--workers 2] [--postgres]

Each service holds all three kinds of reservation: a far-edge component that needs a host of its
own, a cloud component that goes on a shared cluster's nodes (room per node), and a link between
the two that takes bandwidth between the sites. Two continua per N:

- `fits`: built so that the N services fit when placed one after another (N hosts at the far
  edge, the shared cluster's nodes hold N cloud replicas exactly, each site pair carries its
  services' links exactly): every one must end active;
- `k fit`: only k = N/2 far-edge hosts, the rest as above: exactly k active, N - k failed with a
  capacity explanation, and nothing left reserved or held by the failed ones.

The verdicts are the issue's targets; the time per run is printed for information (no target)."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from legato.devserver import DevServer, free_port  # noqa: E402
from legato.embedded import prepare_continuum  # noqa: E402
from legato.inventory import Inventory  # noqa: E402
from legato.model import ServiceSpec  # noqa: E402
from legato.simulator import SimContinuum  # noqa: E402
from legato.temporal import connect  # noqa: E402
from legato.workflows.contracts import DeployRequest, service_workflow_id  # noqa: E402
from tests.stack import make_settings  # noqa: E402

EDGES = 5  # far-edge sites; the services spread over them evenly
LINK_MBPS = 100.0
CLOUD_CPU, NODE_CPU = 16.0, 64.0  # four cloud replicas fill one node exactly


def topology(path: Path, n: int, edge_hosts: int) -> None:
    """`edge_hosts` far-edge hosts in all (a 16-vCPU far-edge replica fills one); a shared cloud
    cluster whose nodes hold exactly n cloud replicas; n/EDGES links' worth of bandwidth per pair."""
    per_edge = [edge_hosts // EDGES + (1 if i < edge_hosts % EDGES else 0) for i in range(EDGES)]
    nodes = -(-n // int(NODE_CPU // CLOUD_CPU))
    sites = [{
        "id": "cloud", "tier": "cloud", "provider": "bench", "region": "r", "country": "FR", "lat": 48.5,
        "lon": 2.5, "cost_per_vcpu_hour": 0.01,
        "hosts": [{"id": f"cloud-h{j:03d}", "cpu": NODE_CPU, "memory_mb": 262144} for j in range(nodes)],
        "clusters": [{"id": "cloud-k8s", "hosts": [f"cloud-h{j:03d}" for j in range(nodes)]}],
    }]
    for i in range(EDGES):
        sites.append({
            "id": f"edge-{i}", "tier": "far-edge", "provider": "bench", "region": "r", "country": "FR",
            "lat": 48.0 + i * 0.2, "lon": 2.0 + i * 0.2, "cost_per_vcpu_hour": 0.05,
            "hosts": [{"id": f"edge-{i}-h{j:03d}", "cpu": 16, "memory_mb": 32768} for j in range(per_edge[i])],
        })
    pair = -(-n // EDGES) * LINK_MBPS
    bandwidth = {"default_mbps": pair}
    path.write_text(yaml.safe_dump({
        "areas": [{"id": f"area-{i}", "lat": 48.0 + i * 0.2, "lon": 2.0 + i * 0.2} for i in range(EDGES)],
        "sites": sites, "bandwidth": bandwidth}))


def service(i: int, tag: str) -> ServiceSpec:
    """The far-edge part near its users (it needs a host of its own: 16 vCPU), the cloud part on
    the shared cluster, and a link between them."""
    return ServiceSpec.model_validate({
        "id": f"c-{tag}-{i}", "name": "bench", "tenant": "bench",
        "components": [
            {"name": "front", "image": "bench", "cpu": 16, "memory_mb": 4096, "placement": {"tiers": ["far-edge"]}},
            {"name": "back", "image": "bench", "cpu": CLOUD_CPU, "memory_mb": 4096, "placement": {"sites": ["cloud"]}},
        ],
        "links": [{"from": "front", "to": "back", "bandwidth_mbps": LINK_MBPS, "max_latency_ms": 100}],
        "user_areas": [{"area": f"area-{i % EDGES}", "component": "front", "max_latency_ms": 50}],
        "policy": {"prefer_existing_clusters": True},
    })


async def wait_terminal(inventory: Inventory, ids: list[str], timeout: float = 900) -> dict[str, tuple[str, str]]:
    deadline = time.monotonic() + timeout
    done: dict[str, tuple[str, str]] = {}
    while len(done) < len(ids) and time.monotonic() < deadline:
        rows, _ = await asyncio.to_thread(inventory.services, None, 0, len(ids), True)
        for row in rows:
            if row.id in ids and row.state in ("active", "failed"):
                done[row.id] = (row.state, row.error or "")
        await asyncio.sleep(0.5)
    return done


def start_workers(settings, count: int, log_dir: Path) -> list[subprocess.Popen]:
    env = {**os.environ, "LEGATO_DATA_DIR": str(settings.data_dir),
           "LEGATO_TEMPORAL_ADDRESS": settings.temporal_address, "LEGATO_TASK_QUEUE": settings.task_queue,
           "LEGATO_DATABASE_URL": settings.inventory_url, "LEGATO_SIM_DATABASE": str(settings.sim_path),
           "LEGATO_TOPOLOGY": str(settings.topology), "LEGATO_SIM_PROFILE": "instant", "LEGATO_LOG_FORMAT": "text"}
    return [subprocess.Popen([sys.executable, "-m", "legato.worker"], env=env,
                             stdout=open(log_dir / f"worker-{i}.log", "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
            for i in range(count)]


async def one_run(root: Path, server: DevServer, n: int, fit: int, workers: int, database_url: str | None) -> dict:
    tag = uuid.uuid4().hex[:6]
    run = root / tag
    path = run / "topology.yaml"
    run.mkdir(parents=True)
    topology(path, n, fit)
    settings = make_settings(run / "legato", server.address).model_copy(update={"topology": path})
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    prepare_continuum(settings)
    inventory = Inventory(settings.inventory_url)
    procs = start_workers(settings, workers, run)
    try:
        client = await connect(settings)
        specs = [service(i, tag) for i in range(n)]
        start = time.monotonic()
        await asyncio.gather(*(client.start_workflow(
            "DeployService", DeployRequest(spec=s, index_search_attributes=False), id=service_workflow_id(s.id),
            task_queue=settings.task_queue) for s in specs))
        done = await wait_terminal(inventory, [s.id for s in specs])
        elapsed = time.monotonic() - start
        sim = SimContinuum(settings.sim_path)
        failed = {sid: err for sid, (state, err) in done.items() if state == "failed"}
        leaked = {sid: left for sid in failed if any((left := sim.leftovers(sid)).values())}
        held = {h.id for h in (await asyncio.to_thread(inventory.hosts, 0, 100_000))[0] if h.state == "reserved"}
        return {"n": n, "fit": fit, "terminal": len(done), "active": n - len(failed), "failed": failed,
                "capacity": sum("capacity" in e.lower() for e in failed.values()), "leaked": leaked,
                "reservations": len(inventory.reservations()), "reserved_hosts": len(held), "seconds": elapsed}
    finally:
        for p in procs:
            p.terminate()
            p.wait(20)


async def main(sizes: list[int], workers: int, postgres: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="legato-concurrency-") as tmp:
        root = Path(tmp)
        server = DevServer(root / "temporal.db", port=free_port(), ui_port=None).start()
        pg = None
        try:
            url = None
            if postgres:
                from tests.postgres import Postgres

                pg = Postgres(root / "pg").start()
                url = pg.url
            print(f"cores: {os.cpu_count()}; {workers} worker process(es) sharing one "
                  f"{'PostgreSQL' if postgres else 'SQLite'} inventory; sim latencies zero")
            print(f"{'N':>4} {'fit':>4} | {'active':>6} {'failed':>6} {'capacity':>8} | {'reserved':>8} "
                  f"{'leaked':>6} | {'seconds':>7}")
            ok = True
            for n in sizes:
                for fit in (n, n // 2):
                    r = await one_run(root, server, n, fit, workers, _fresh_db(url) if url else None)
                    print(f"{n:>4} {fit:>4} | {r['active']:>6} {len(r['failed']):>6} {r['capacity']:>8} | "
                          f"{r['reservations'] + r['reserved_hosts']:>8} {len(r['leaked']):>6} | {r['seconds']:>7.1f}")
                    good = (r["terminal"] == n and r["active"] == fit and r["capacity"] == n - fit
                            and not r["leaked"] and r["reservations"] == 0 and r["reserved_hosts"] == 0)
                    if not good:
                        ok = False
                        for sid, err in list(r["failed"].items())[:5]:
                            print(f"      {sid}: {err[:200]}")
            print(f"target: all fit -> 0 failures; k fit -> exactly k active, the rest failed for capacity, "
                  f"nothing reserved or leaked: {'PASS' if ok else 'FAIL'}")
            return 0 if ok else 1
        finally:
            if pg is not None:
                pg.stop()
            server.stop()


def _fresh_db(url: str) -> str:
    import psycopg

    name = f"b{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 50, 100])
    parser.add_argument("--workers", type=int, default=2, help="worker processes sharing the inventory")
    parser.add_argument("--postgres", action="store_true", help="a PostgreSQL inventory (Debian's postgresql)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.sizes, args.workers, args.postgres)))
