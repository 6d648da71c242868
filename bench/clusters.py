"""Clusters: the time to create, scale and upgrade a cluster through Legato, split into the
provider's own time and Legato's overhead (target: orchestration adds under 5%).

    .venv/bin/python bench/clusters.py                        # the sim, provider times set below
    .venv/bin/python bench/clusters.py --backend kwok         # real control planes (LEGATO_TESTBED_BIN)
    .venv/bin/python bench/clusters.py --backend clusterapi   # the test bed's management cluster
    .venv/bin/python bench/clusters.py --backend clusterapi --clusterapi SECTION.yaml   # yours

The baseline is the provider alone, measured in the same run on a twin cluster of the same site:
the same MCM and PIM calls a minimal orchestrator would make, in the same order, called directly
(no Temporal, no inventory, no API), polling the provider every 50 ms. Legato's time is the same
operation through the product, end to end: for create, from a DeployService's start to its cluster
created (read from the workflow's history: placement, reservations, the PIM allocation and the MCM
create, each an activity); for scale, `POST /v1/clusters/{id}/scale` (ScaleCluster: hosts picked and
reserved, allocated, nodes added; then drained, removed, released); for upgrade, `POST
/v1/clusters/{id}/upgrade?wait=` (UpgradeCluster: claim, check, the control plane, each node drained
and replaced). overhead = Legato / provider - 1.

On the sim the provider's times are set (`--provider-seconds`, scaled per call: a cluster create
takes 6 units, a node added 2, a control plane upgrade 6, a node replaced 3, a replica 0.5), so
the provider is slow as real ones are; kwok's are its own. For `clusterapi` the bench starts the
test bed's management cluster (the real CAPI managers and the kwok infrastructure provider,
tests/real/capi_testbed.py) with both sites' hosts enrolled, or, given `--clusterapi FILE`, uses the
site's section (management kubeconfig, infrastructure) from the file, whose hosts must be enrolled;
both clusters are created by the bench on the site's hosts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import yaml
from temporalio.api.enums.v1 import EventType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from legato.devserver import DevServer, free_port  # noqa: E402
from legato.model import Host  # noqa: E402
from legato.model.versions import parse  # noqa: E402
from legato.model.workloads import WorkloadSpec  # noqa: E402
from legato.temporal import connect  # noqa: E402
from legato.workflows.contracts import service_workflow_id  # noqa: E402
from tests.e2e.calls import active  # noqa: E402
from tests.real.capi_testbed import management_cluster as start_management_cluster  # noqa: E402
from tests.real.capi_testbed import site_config  # noqa: E402
from tests.real.testbed import delete_every_cluster  # noqa: E402
from tests.stack import Stack, running_stack  # noqa: E402

SITE, BASE_SITE = "bench-legato", "bench-base"
LEGATO, BASE = "legato-k8s", "base-k8s"
POLL = 0.05


def topology(backend: str, nodes: int, clusterapi: dict | None) -> dict:
    """Two twin sites, each with a shared cluster of `nodes` nodes and two spare hosts (one to grow
    by, one for a new cluster): Legato's, and the baseline's (which Legato's placement never sees
    used, since the baseline calls the backends directly)."""
    site_backend = {"mcm": backend, "wdm": "sim" if backend == "sim" else "kubernetes"}
    if clusterapi is not None:
        site_backend["clusterapi"] = clusterapi
    sites = []
    for site_id, cluster_id, p in ((SITE, LEGATO, "l"), (BASE_SITE, BASE, "b")):
        hosts = [f"{p}-h{i}" for i in range(1, nodes + 3)]
        sites.append({"id": site_id, "tier": "regional", "provider": "bench", "region": "eu-west", "country": "FR",
                      "lat": 45.7, "lon": 4.8, "cost_per_vcpu_hour": 0.05, "backend": site_backend,
                      "clusters": [{"id": cluster_id, "hosts": hosts[:nodes]}],
                      "hosts": [{"id": h, "cpu": 8, "memory_mb": 16384} for h in hosts]})  # fmt: skip
    return {"areas": [{"id": "lyon", "region": "eu-west", "lat": 45.76, "lon": 4.84}], "sites": sites}


def set_provider_times(stack: Stack, unit: float) -> None:
    sim = stack.sim
    sim.set_latency("mcm.create_cluster", 6 * unit)
    sim.set_latency("mcm.add_nodes", 2 * unit)
    sim.set_latency("pim.allocate", unit)
    sim.set_ready_delay(0.5 * unit)
    sim.set_upgrade_time(control_plane=6 * unit, node=3 * unit)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout:g} s")
        await asyncio.sleep(POLL)


# ---- the provider alone: the calls a minimal orchestrator makes, straight to the adapters


async def base_create(stack: Stack, hosts: list[str]) -> float:
    a = stack.adapters
    start = time.monotonic()
    await a.pim.allocate_hosts("bench-base-create/alloc", BASE_SITE, hosts, "bench-base")
    await a.mcm.create_cluster("bench-base-create/cluster", "base-new", BASE_SITE, hosts, "bench-base")
    return time.monotonic() - start


async def base_drain(stack: Stack, cluster: str, host: str, op: str) -> None:
    await stack.adapters.mcm.drain_nodes(f"{op}/drain", cluster, [host], partial=False)
    await until(lambda: _empty(stack, cluster, host))


async def _empty(stack: Stack, cluster: str, host: str) -> bool:
    return not (await stack.adapters.mcm.busy_nodes(cluster, [host]))[host]


async def base_grow(stack: Stack, host: str) -> float:
    a = stack.adapters
    start = time.monotonic()
    await a.pim.allocate_hosts("bench-base-grow/alloc", BASE_SITE, [host], f"cluster-{BASE}")
    await a.mcm.add_nodes("bench-base-grow/add", BASE, [host])
    return time.monotonic() - start


async def base_shrink(stack: Stack, host: str) -> float:
    a = stack.adapters
    start = time.monotonic()
    await base_drain(stack, BASE, host, "bench-base-shrink")
    await a.mcm.remove_nodes("bench-base-shrink/remove", BASE, [host])
    await a.pim.release_hosts("bench-base-shrink/release", "bench-base-grow/alloc", [host])
    return time.monotonic() - start


async def base_upgrade(stack: Stack, version: str) -> float:
    mcm = stack.adapters.mcm
    start = time.monotonic()
    await mcm.upgrade_control_plane("bench-base-upgrade/cp", BASE, version)
    await until(lambda: _on(stack, BASE, version, []))
    for host in sorted((await mcm.get_cluster(BASE)).hosts):
        await base_drain(stack, BASE, host, f"bench-base-upgrade/{host}")
        await mcm.upgrade_nodes(f"bench-base-upgrade/{host}/replace", BASE, [host], version)
        await until(lambda h=host: _on(stack, BASE, version, [h]))
    return time.monotonic() - start


async def _on(stack: Stack, cluster_id: str, version: str, hosts: list[str]) -> bool:
    try:
        cluster = await stack.adapters.mcm.get_cluster(cluster_id)
    except Exception:  # noqa: BLE001 - the API server restarting: ask again
        return False
    return cluster.kubernetes_version == version and all(cluster.node_versions.get(h) == version for h in hosts)


# ---- through Legato


async def legato_create(stack: Stack) -> float:
    """A service that needs a cluster of its own: from its workflow's start to its cluster created."""
    spec = {"name": "bench-new", "components": [{"name": "app", "image": "registry.example/app", "version": "1",
            "cpu": 1, "memory_mb": 256, "placement": {"sites": [SITE]}}],
            "policy": {"prefer_existing_clusters": False}}  # fmt: skip
    service_id = await stack.deploy(spec)
    assert (await stack.wait_state(service_id, {"active", "failed"}, timeout=1800))["state"] == "active"
    client = await connect(stack.settings)
    history = await client.get_workflow_handle(service_workflow_id(service_id)).fetch_history()
    events = list(history.events)
    started = events[0].event_time.ToDatetime()
    scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name for e in events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}  # fmt: skip
    created = next(e.event_time.ToDatetime() for e in events
                   if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                   and scheduled[e.activity_task_completed_event_attributes.scheduled_event_id] == "mcm.create_cluster")
    return (created - started).total_seconds()


async def legato_grow(stack: Stack) -> tuple[float, str]:
    before = set((await stack.adapters.mcm.get_cluster(LEGATO)).hosts)
    async with stack.http("operator") as http:
        start = time.monotonic()
        grown = await http.post(f"/v1/clusters/{LEGATO}/scale", json={"add": 1}, timeout=1800)
        took = time.monotonic() - start
    assert grown.status_code == 200, grown.text
    (added,) = sorted(set(grown.json()["hosts"]) - before)
    return took, added


async def legato_shrink(stack: Stack, host: str) -> float:
    async with stack.http("operator") as http:
        start = time.monotonic()
        shrunk = await http.post(f"/v1/clusters/{LEGATO}/scale", json={"remove_hosts": [host]}, timeout=1800)
        took = time.monotonic() - start
    assert shrunk.status_code == 200, shrunk.text
    return took


async def load(stack: Stack, cluster: str, replicas: int, onto: str | None = None) -> None:
    """The same load on both twins, deployed directly: a pod per node (and one on `onto`, a new node)."""
    spec = WorkloadSpec(id="load", service_id="bench-load", tenant="bench", component="load",
                        image="registry.example/w", version="1", replicas=replicas, cpu=2, memory_mb=512)
    wdm = stack.adapters.wdm
    if onto is None:
        await wdm.deploy(f"bench-load-{cluster}", cluster, spec)
    else:
        await wdm.scale(f"bench-load-{cluster}-{replicas}", cluster, "load", replicas, prefer_nodes=[onto])
    await until(lambda: _ready(stack, cluster, replicas))


async def _ready(stack: Stack, cluster: str, replicas: int) -> bool:
    status = await stack.adapters.wdm.status(cluster, "load")
    return status is not None and status.ready_replicas >= replicas and sum(status.nodes.values()) == replicas


async def legato_upgrade(stack: Stack, version: str) -> float:
    async with stack.http("operator") as http:
        start = time.monotonic()
        done = await http.post(f"/v1/clusters/{LEGATO}/upgrade", json={"version": version},
                               params={"wait": 3600}, timeout=3700)
        took = time.monotonic() - start
    assert done.status_code == 200 and done.json()["state"] == "done", done.text
    return took


async def run(args: argparse.Namespace) -> None:
    clusterapi = yaml.safe_load(Path(args.clusterapi).read_text()) if args.clusterapi else None
    root = Path(tempfile.mkdtemp(prefix="bench-clusters-"))
    testbed_bin = Path(os.environ.get("LEGATO_TESTBED_BIN", Path.home() / ".cache/legato/testbed/current/bin"))
    management = None
    if args.backend == "clusterapi" and clusterapi is None:
        management, clusterapi = management_cluster(testbed_bin, root / "capi", args.nodes)
    (root / "topology.yaml").write_text(yaml.safe_dump(topology(args.backend, args.nodes, clusterapi)))
    server = DevServer(root / "temporal.db", port=free_port(), ui_port=None).start()
    overrides = {"topology": root / "topology.yaml"}
    if args.backend != "sim":
        overrides["testbed_bin"] = testbed_bin
    try:
        async with running_stack(root / "legato", server.address, **overrides) as stack:
            try:
                rows = await measure(stack, args)
            finally:
                if args.backend == "kwok":  # no control plane left running
                    await delete_every_cluster(stack.adapters.mcm.backends.of(SITE))
    finally:
        server.stop()
        if management is not None:
            management.stop()
    report(args, rows)


def management_cluster(testbed_bin: Path, workdir: Path, nodes: int):
    """The test bed's management cluster, both sites' hosts enrolled, and the sites' clusterapi section."""
    workdir.mkdir(parents=True)
    hosts = [Host(id=f"{p}-h{i}", cpu=8, memory_mb=16384) for p in ("l", "b") for i in range(1, nodes + 3)]
    mc = start_management_cluster(testbed_bin, workdir, hosts)
    versions = ["v1.34.4", "v1.35.4"] if (testbed_bin / "kube-v1.35.4" / "kube-apiserver").exists() else []
    return mc, site_config(mc.kubeconfig, versions=versions, ready_timeout_seconds=300).model_dump()


async def measure(stack: Stack, args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """(operation, the provider's seconds, Legato's seconds), each measured once on each twin."""
    if args.backend == "sim":
        set_provider_times(stack, args.provider_seconds)
    for cluster in (LEGATO, BASE):
        await load(stack, cluster, args.nodes)
    # One deployment first, not measured: the worker's first one builds its copy of the continuum.
    warm = {"name": "warm", "components": [{"name": "app", "image": "registry.example/app", "version": "1",
            "cpu": 0.5, "memory_mb": 128, "placement": {"sites": [SITE]}}]}  # fmt: skip
    await stack.remove(await active(stack, warm))
    current = (await stack.adapters.mcm.get_cluster(LEGATO)).kubernetes_version
    offered = await stack.adapters.mcm.kubernetes_versions(LEGATO)
    major, minor, _ = parse(current)
    target = max((v for v in offered if parse(v)[:2] == (major, minor + 1)), key=parse, default=None)
    rows = []
    grow_host, create_host = f"b-h{args.nodes + 1}", f"b-h{args.nodes + 2}"
    rows.append(("create (one host)", await base_create(stack, [create_host]), await legato_create(stack)))
    base_grown = await base_grow(stack, grow_host)
    grown, added = await legato_grow(stack)
    rows.append(("scale: add a node", base_grown, grown))
    await load(stack, BASE, args.nodes + 1, onto=grow_host)  # a pod to move off the node removed
    await load(stack, LEGATO, args.nodes + 1, onto=added)
    rows.append(("scale: remove a node (one pod moved)", await base_shrink(stack, grow_host),
                 await legato_shrink(stack, added)))
    if target is None:
        print(f"no next minor offered beside {current} ({offered}): upgrade not measured")
    else:
        rows.append((f"upgrade {current} -> {target} ({args.nodes} nodes)", await base_upgrade(stack, target),
                     await legato_upgrade(stack, target)))
    return rows


def report(args: argparse.Namespace, rows: list[tuple[str, float, float]]) -> None:
    print(f"\nclusters on {args.backend}" + (f" (sim provider unit {args.provider_seconds:g} s)"
                                              if args.backend == "sim" else ""))
    print(f"{'operation':<44} {'provider s':>10} {'Legato s':>10} {'added s':>8} {'overhead':>9}")
    for name, base, legato in rows:
        print(f"{name:<44} {base:>10.2f} {legato:>10.2f} {legato - base:>8.2f} {legato / base - 1:>9.1%}")
    overall = statistics.fmean(legato / base - 1 for _, base, legato in rows)
    verdict = "met" if all(legato / base - 1 < 0.05 for _, base, legato in rows) else "NOT met"
    print(f"mean overhead {overall:.1%}; target under 5% for every operation: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sim", "kwok", "clusterapi"], default="sim")
    parser.add_argument("--nodes", type=int, default=3, help="nodes of each cluster (upgraded one by one)")
    parser.add_argument("--provider-seconds", type=float, default=2.0, help="the sim provider's time unit")
    parser.add_argument("--clusterapi", help="YAML: the site's clusterapi section (management kubeconfig, ...)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
