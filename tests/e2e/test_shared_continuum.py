"""Trust on a shared continuum, through the real HTTP API on the sim: concurrent deployments never
collide, placement fits node by node, removing one service never harms another (judged from the
simulator's replica history), scale-in gives hosts back, and no operation holds a service forever."""

from __future__ import annotations

import asyncio
import time

from sqlmodel import select

from legato.inventory.tables import NodeClaimRow
from legato.model import ServiceSpec
from legato.placement import place
from legato.temporal import connect
from tests.e2e.calls import active, operate

CLUSTER = "milan-cloud-k8s"  # three 64-vCPU nodes: mil-c-h01..h03
ORIGINAL = {"mil-c-h01", "mil-c-h02", "mil-c-h03"}


def on_milan(name: str, replicas: int, cpu: float, version: str = "1.0") -> dict:
    """One component pinned to milan-cloud, reusing its shared cluster when it can."""
    return {"name": name, "components": [{
        "name": "work", "image": f"registry.example/{name}", "version": version, "replicas": replicas, "cpu": cpu,
        "memory_mb": 1024, "placement": {"sites": ["milan-cloud"]}}]}


def small_fr(i: int) -> dict:
    """The issue's shape: 4 vCPU, users in paris-center, France only, a cluster of its own."""
    return {"name": f"fr-{i}", "components": [{"name": "app", "image": "registry.example/app", "version": "1",
                                                "cpu": 4, "memory_mb": 4096}],
            "user_areas": [{"area": "paris-center", "max_latency_ms": 30}],
            "policy": {"allowed_countries": ["FR"], "prefer_existing_clusters": False}}


def nodes(stack) -> set[str]:
    return set(stack.sim.cluster(CLUSTER).hosts)


def held_by(stack, owner: str) -> set[str]:
    return {h.id for h in stack.sim.hosts("milan-cloud") if h.service_id == owner}


async def terminate(stack, service_id: str) -> dict:
    async with stack.http() as client:
        assert (await client.delete(f"/v1/services/{service_id}")).status_code == 202
    return await stack.wait_state(service_id, {"terminated"}, timeout=180)


def assert_nothing_reserved(stack) -> None:
    assert stack.inventory.reservations() == []
    rows, _ = stack.inventory.hosts(0, 100_000)
    assert [h.id for h in rows if h.state == "reserved"] == []
    with stack.inventory.session() as s:
        assert list(s.exec(select(NodeClaimRow).where(NodeClaimRow.state == "reserved"))) == []


async def test_concurrent_deployments_that_all_fit_all_succeed(stack):
    ids = await asyncio.gather(*(stack.deploy(small_fr(i)) for i in range(20)))
    states = await asyncio.gather(*(stack.wait_state(sid, {"active", "failed"}, timeout=300) for sid in ids))
    assert [s.get("error") for s in states if s["state"] != "active"] == []
    hosts = [h for sid in ids for h in await stack.sim_hosts(sid)]
    assert len(hosts) == len(set(hosts)) == 20  # one host each, none promised twice
    assert_nothing_reserved(stack)
    await asyncio.gather(*(stack.remove(sid) for sid in ids))


async def test_when_only_some_fit_exactly_those_succeed_and_nothing_is_left_reserved(stack):
    # milan-cloud's shared cluster holds three 60-vCPU replicas, its free hosts 13 more (two of them
    # GPU hosts, the last resort): 16 fit one after another, never 24.
    specs = [on_milan(f"big-{i}", 1, 60) | {"policy": {"prefer_existing_clusters": True}} for i in range(24)]
    ids = await asyncio.gather(*(stack.deploy(s) for s in specs))
    states = await asyncio.gather(*(stack.wait_state(sid, {"active", "failed"}, timeout=300) for sid in ids))
    won = [s for s in states if s["state"] == "active"]
    lost = [s for s in states if s["state"] == "failed"]
    assert len(won) == 16 and len(lost) == 8
    assert all("capacity" in (s["error"] or "") for s in lost), [s["error"] for s in lost]
    assert_nothing_reserved(stack)
    for s in lost:
        stack.assert_nothing_left(s["id"])
    await asyncio.gather(*(stack.remove(s["id"]) for s in won))


async def test_placement_fits_replicas_node_by_node(stack):
    # 3 x 64 vCPU nodes: 3 x 40 fit one per node; a fourth does not fit any node although the
    # cluster's total room (72) would hold it: placement grows the cluster instead of failing.
    first = await active(stack, on_milan("forty", 3, 40))
    before = nodes(stack)
    second = await active(stack, on_milan("forty-more", 1, 40))
    assert len(nodes(stack) - before) == 1  # grown by one host for the replica that fits no node
    [w] = await stack.sim_workloads(second)
    assert w.ready and set(w.nodes) == nodes(stack) - before
    for sid in (second, first):
        await stack.remove(sid)


async def test_a_terminated_service_moves_others_off_its_nodes_before_removing_them(stack):
    a = await active(stack, on_milan("a", 1, 10))  # a0 on h01
    b = await active(stack, on_milan("b", 3, 54))  # fills h01, h02, h03
    assert (await operate(stack, a, "components/work/scale", {"replicas": 4}))["state"] == "succeeded"
    added = nodes(stack) - ORIGINAL  # a's fourth replica needed a node of its own
    assert len(added) == 1
    c = await active(stack, on_milan("c", 1, 8))  # lands on a's node: the only room left
    [cw] = await stack.sim_workloads(c)
    assert set(cw.nodes) == added
    since = time.time()
    assert (await terminate(stack, a))["error"] is None
    for sid, wanted in ((b, 3), (c, 1)):
        assert stack.sim.serving(sid, "work", since).min_ready == wanted  # from the history: never a dip
    assert nodes(stack) == ORIGINAL and held_by(stack, a) == set()
    stack.assert_nothing_left(a)
    for sid in (c, b):
        await stack.remove(sid)


async def test_a_node_nobody_else_can_hold_goes_to_the_pool_and_comes_back_when_empty(stack):
    a = await active(stack, on_milan("a", 1, 10))
    b = await active(stack, on_milan("b", 3, 54))
    assert (await operate(stack, a, "components/work/scale", {"replicas": 4}))["state"] == "succeeded"
    [extra] = nodes(stack) - ORIGINAL
    c = await active(stack, on_milan("c", 1, 50))  # on a's node; after a, 10 vCPU free elsewhere: too little
    since = time.time()
    assert (await terminate(stack, a))["state"] == "terminated"  # never hangs
    assert stack.sim.serving(c, "work", since).min_ready == 1
    pool = f"cluster-{CLUSTER}"
    assert held_by(stack, pool) == {extra} and extra in nodes(stack)
    for who in ("operator", "beta"):  # the pool is the cluster's: no tenant's secret
        async with stack.http(who) as client:
            hosts = (await client.get("/v1/hosts", params={"site": "milan-cloud", "limit": 100})).json()
            clusters = (await client.get("/v1/clusters", params={"site": "milan-cloud"})).json()
        [row] = [h for h in hosts["items"] if h["id"] == extra]
        assert row["service_id"] == pool and row["cluster"] == CLUSTER
        assert [c["pool"] for c in clusters["items"] if c["id"] == CLUSTER] == [[extra]]
        assert who == "operator" or all(sid not in str(hosts) for sid in (a, b, c))  # nor of whose services
    stack.assert_nothing_left(a)

    await stack.remove(c)
    client = await connect(stack.settings)  # the `reconcile` schedule's workflow, run once now
    summary = await client.execute_workflow("Reconcile", id=f"reconcile-now-{time.time_ns()}",
                                            task_queue=stack.settings.task_queue)
    assert summary["pool_nodes_given_back"] == 1
    assert extra not in nodes(stack) and held_by(stack, pool) == set()
    assert [h.state for h in stack.sim.hosts("milan-cloud") if h.id == extra] == ["free"]
    await stack.remove(b)


async def test_a_rolled_back_scale_never_takes_another_services_replicas_down(stack):
    a = await active(stack, on_milan("a", 1, 10, version="a-1"))
    b = await active(stack, on_milan("b", 3, 54))
    stack.sim.set_never_ready("a-1")  # a's new replicas never become ready: its scale is rolled back
    scaling = asyncio.create_task(operate(stack, a, "components/work/scale",
                                          {"replicas": 4, "progress_deadline_seconds": 8}))
    deadline = time.monotonic() + 30
    while not (nodes(stack) - ORIGINAL):  # the node grown for a's scale exists
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    [extra] = nodes(stack) - ORIGINAL
    c = await active(stack, on_milan("c", 1, 50))  # lands on the grown node, the only room left
    [cw] = await stack.sim_workloads(c)
    assert set(cw.nodes) == {extra}
    since = time.time()
    record = await scaling
    assert record["state"] == "failed" and "deadline" in record["detail"], record
    assert stack.sim.serving(c, "work", since).min_ready == 1  # the rollback never took c down
    assert stack.sim.serving(b, "work", since).min_ready == 3
    [aw] = await stack.sim_workloads(a)
    assert aw.replicas == 1 and aw.ready
    assert held_by(stack, a) == set()  # the grown node went to the pool: c still runs there
    assert held_by(stack, f"cluster-{CLUSTER}") == {extra}
    stack.sim.clear_faults()
    for sid in (a, c, b):
        await stack.remove(sid)


async def test_scale_in_gives_the_added_hosts_back(stack):
    a = await active(stack, on_milan("a", 1, 60))
    assert (await operate(stack, a, "components/work/scale", {"replicas": 4}))["state"] == "succeeded"
    added = nodes(stack) - ORIGINAL
    assert len(added) == 1 and held_by(stack, a) == added
    since = time.time()
    record = await operate(stack, a, "components/work/scale", {"replicas": 1})
    assert record["state"] == "succeeded", record
    assert nodes(stack) == ORIGINAL and held_by(stack, a) == set()
    assert all(h.state == "free" for h in stack.sim.hosts("milan-cloud") if h.id in added)
    assert stack.sim.serving(a, "work", since).final_ready == 1
    await stack.remove(a)


async def test_an_upgrade_whose_replicas_never_become_ready_is_undone_at_its_deadline(stack):
    sid = await active(stack, on_milan("stuck", 2, 4))
    stack.sim.set_never_ready("2.0")
    since = time.time()
    for body in ({"version": "2.0", "progress_deadline_seconds": 5},
                 {"version": "2.0", "strategy": "canary", "canary": {"observe_seconds": 0},
                  "progress_deadline_seconds": 5}):
        record = await operate(stack, sid, "components/work/upgrade", body)
        assert record["state"] == "failed" and "deadline" in record["detail"], record
    [w] = await stack.sim_workloads(sid)
    assert w.version == "1.0" and w.ready and w.replicas == 2
    assert stack.sim.serving(sid, "work", since).min_ready == 2
    # A scale whose new replicas never become ready goes back to what it was.
    stack.sim.set_never_ready("1.0")
    record = await operate(stack, sid, "components/work/scale", {"replicas": 4, "progress_deadline_seconds": 5})
    assert record["state"] == "failed" and "deadline" in record["detail"], record
    [w] = await stack.sim_workloads(sid)
    assert w.replicas == 2 and w.ready
    # A move whose target never becomes ready is abandoned: the source still serves.
    since = time.time()
    record = await operate(stack, sid, "components/work/move", {"placement": {"sites": ["paris-cloud"]},
                                                                 "progress_deadline_seconds": 5})
    assert record["state"] == "failed" and "deadline" in record["detail"], record
    [w] = await stack.sim_workloads(sid)
    assert w.cluster == CLUSTER and w.ready
    assert stack.sim.serving(sid, "work", since).min_ready == 2
    stack.sim.clear_faults()
    # The service is free for the next operation.
    assert (await operate(stack, sid, "components/work/upgrade", {"version": "2.0"}))["state"] == "succeeded"
    await stack.remove(sid)


async def test_a_host_taken_outside_legato_makes_the_deployment_place_again(stack):
    spec = small_fr(0)
    # Take, behind Legato's back, the host the first placement would use: the PIM refuses it.
    probe = ServiceSpec.model_validate(spec | {"id": "probe", "tenant": "alpha"})
    decision = place(probe, stack.inventory.topology(), stack.inventory.usage())
    [taken] = decision.sites[0].add_hosts
    site = decision.sites[0].site
    await stack.sim.allocate_hosts("outsider/alloc", site, [taken], "outsider")
    sid = await stack.deploy(spec)
    svc = await stack.wait_state(sid, {"active", "failed"})
    assert svc["state"] == "active", svc.get("error")
    assert taken not in await stack.sim_hosts(sid)
    steps = {s["name"]: s for s in svc["steps"]}
    assert "re-place [2/3]" in steps and f"host:{taken}" in steps["re-place [2/3]"]["detail"]
    rows, _ = stack.inventory.hosts(0, 100_000, site)
    assert [h.state for h in rows if h.id == taken] == ["allocated"]  # mirrored: nobody counts on it again
    await stack.remove(sid)
