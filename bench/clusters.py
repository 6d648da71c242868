"""Clusters: the time to create, scale and upgrade a cluster through Legato, split into the
provider's own time and Legato's overhead (target: orchestration adds under 5%).

    .venv/bin/python bench/clusters.py                        # the sim, provider times set below
    .venv/bin/python bench/clusters.py --backend kwok         # real control planes (LEGATO_TESTBED_BIN)
    .venv/bin/python bench/clusters.py --backend clusterapi   # the test bed's management cluster
    .venv/bin/python bench/clusters.py --backend clusterapi --clusterapi SECTION.yaml   # yours

Legato's time is split in two from the run's own workflow history, so the provider's variance
(a CAPI controller's requeue, a control plane's restart) is not counted as Legato's: **in provider
calls**, the execution of every activity that calls an adapter (pim., mcm., wdm. and tcm.: the
provisioning itself, and the waits that poll it, every 0.2 s), and **Legato's own**, the rest of the
wall time the caller saw (the API, workflow tasks, queueing, placement, reservations, the
inventory). The target is on `own / in provider calls`.

As a cross-check, the provider alone is measured in the same run on a twin cluster of the same
site: the same MCM and PIM calls a minimal orchestrator would make, in the same order, called
directly (no Temporal, no inventory, no API), polling every 50 ms. Legato's operations are: create,
from a DeployService's start to its cluster created (placement, reservations, the PIM allocation
and the MCM create, each an activity); scale, `POST /v1/clusters/{id}/scale` (ScaleCluster: hosts
picked and reserved, allocated, nodes added; then drained, removed, released); upgrade, `POST
/v1/clusters/{id}/upgrade?wait=` (UpgradeCluster: claim, check, the control plane, each node drained
and replaced). One run measures each operation once on each twin: the twin column moves with the
provider's own variance (tens of percent on CAPI), which is why the split above is the measure.

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
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


# ---- through Legato: the caller's wall time, and the part of it spent in provider calls

PROVIDER_CALLS = ("pim.", "mcm.", "wdm.", "tcm.")


@dataclass
class Timing:
    wall: float  # as the caller saw it
    in_provider: float  # executing activities that call an adapter

    @property
    def own(self) -> float:
        return self.wall - self.in_provider


async def provider_seconds(stack: Stack, workflow_id: str, until_activity: str | None = None) -> float:
    """Seconds the workflow spent executing adapter-calling activities (each from its last attempt's
    start to its completion), up to the completion of `until_activity` if given."""
    client = await connect(stack.settings)
    events = list((await client.get_workflow_handle(workflow_id).fetch_history()).events)
    kinds = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name for e in events
             if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}  # fmt: skip
    started = {e.activity_task_started_event_attributes.scheduled_event_id: e.event_time.ToDatetime()
               for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED}  # fmt: skip
    total = 0.0
    for e in events:
        if e.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            continue
        scheduled = e.activity_task_completed_event_attributes.scheduled_event_id
        if kinds[scheduled].startswith(PROVIDER_CALLS):
            total += (e.event_time.ToDatetime() - started[scheduled]).total_seconds()
        if kinds[scheduled] == until_activity:
            break
    return total


async def legato_create(stack: Stack) -> Timing:
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
    return Timing((created - started).total_seconds(),
                  await provider_seconds(stack, service_workflow_id(service_id), "mcm.create_cluster"))


async def legato_grow(stack: Stack) -> tuple[Timing, str]:
    before = set((await stack.adapters.mcm.get_cluster(LEGATO)).hosts)
    timing, grown = await legato_scale(stack, {"add": 1}, "bench-grow")
    (added,) = sorted(set(grown["hosts"]) - before)
    return timing, added


async def legato_shrink(stack: Stack, host: str) -> Timing:
    return (await legato_scale(stack, {"remove_hosts": [host]}, "bench-shrink"))[0]


async def legato_scale(stack: Stack, body: dict, request_id: str) -> tuple[Timing, dict]:
    async with stack.http("operator") as http:
        start = time.monotonic()
        done = await http.post(f"/v1/clusters/{LEGATO}/scale", json={**body, "request_id": request_id}, timeout=1800)
        took = time.monotonic() - start
    assert done.status_code == 200, done.text
    return Timing(took, await provider_seconds(stack, f"cluster-{LEGATO}/scale/{request_id}")), done.json()


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


async def legato_upgrade(stack: Stack, version: str) -> Timing:
    async with stack.http("operator") as http:
        start = time.monotonic()
        done = await http.post(f"/v1/clusters/{LEGATO}/upgrade", json={"version": version, "request_id": "bench"},
                               params={"wait": 3600}, timeout=3700)
        took = time.monotonic() - start
    assert done.status_code == 200 and done.json()["state"] == "done", done.text
    return Timing(took, await provider_seconds(stack, done.json()["workflow_id"]))


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


async def measure(stack: Stack, args: argparse.Namespace) -> list[tuple[str, float, Timing]]:
    """(operation, the provider alone on the twin, Legato's timing), each measured once on each twin."""
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


def report(args: argparse.Namespace, rows: list[tuple[str, float, Timing]]) -> None:
    print(f"\nclusters on {args.backend}" + (f" (sim provider unit {args.provider_seconds:g} s)"
                                              if args.backend == "sim" else ""))
    print(f"{'operation':<40} {'Legato s':>9} {'provider':>9} {'own s':>7} {'own/provider':>13} "
          f"{'twin alone s':>13} {'Legato/twin':>12}")
    for name, twin, t in rows:
        print(f"{name:<40} {t.wall:>9.2f} {t.in_provider:>9.2f} {t.own:>7.2f} {t.own / t.in_provider:>13.1%} "
              f"{twin:>13.2f} {t.wall / twin - 1:>+12.1%}")
    verdict = "met" if all(t.own / t.in_provider < 0.05 for _, _, t in rows) else "NOT met"
    print(f"Legato's own time over its provider calls: target under 5% for every operation: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sim", "kwok", "clusterapi"], default="sim")
    parser.add_argument("--nodes", type=int, default=3, help="nodes of each cluster (upgraded one by one)")
    parser.add_argument("--provider-seconds", type=float, default=2.0, help="the sim provider's time unit")
    parser.add_argument("--clusterapi", help="YAML: the site's clusterapi section (management kubeconfig, ...)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
