"""Trust on a shared continuum, on real infrastructure: the counterparts of
tests/e2e/test_shared_continuum.py on one site whose hosts are Redfish systems (the sushy-tools
emulator) and whose shared cluster is a real Kubernetes control plane with kwok nodes, all through
the HTTP API and Temporal. Continuity is judged from a pod watch's whole history (pod_history.py)
on the shared cluster's `legato` namespace, never from samples.

The shared cluster starts with two 4-vCPU nodes (kw-h1, kw-h2); six more hosts are free for
services to grow it with. Sizes are chosen so kube-scheduler has no choice: where a pod can go is
decided by the room left on each node."""

from __future__ import annotations

import asyncio
import time

import pytest
import yaml
from kubernetes import client

from legato.adapters.wdm.kubernetes import WORKLOAD
from legato.temporal import connect
from tests.e2e.calls import active, operate
from tests.real.pod_history import PodHistory
from tests.real.test_real_continuum import powered_on
from tests.real.testbed import delete_every_cluster
from tests.real.waiting import until
from tests.stack import running_stack

SITE = "kw-site"
CLUSTER = "kw-k8s"
ORIGINAL = {"kw-h1", "kw-h2"}
HOSTS = [f"kw-h{i}" for i in range(1, 9)]
SERVICE = "legato.io/service"
DEADLINE = 5  # seconds: the progress deadline of the operations that never become ready


def topology(emulator_url: str, credentials: str) -> dict:
    backend = {"pim": "redfish", "mcm": "kwok", "wdm": "kubernetes",
               "redfish": {"endpoints": [emulator_url], "credentials": f"file:{credentials}"}}  # fmt: skip
    site = {"id": SITE, "tier": "regional", "provider": "orange-fr", "region": "eu-west", "country": "FR",
            "lat": 45.73, "lon": 4.83, "cost_per_vcpu_hour": 0.05, "backend": backend,
            "clusters": [{"id": CLUSTER, "hosts": sorted(ORIGINAL)}],
            "hosts": [{"id": h, "cpu": 4, "memory_mb": 8192} for h in HOSTS]}  # fmt: skip
    return {"areas": [{"id": "lyon", "region": "eu-west", "lat": 45.76, "lon": 4.84}], "sites": [site]}


def on_site(name: str, replicas: int, cpu: float, version: str = "1.0") -> dict:
    """One component pinned to the site, reusing (or growing) its shared cluster."""
    return {"name": name, "components": [{
        "name": "work", "image": f"registry.example/{name}", "version": version, "replicas": replicas, "cpu": cpu,
        "memory_mb": 256, "placement": {"sites": [SITE]}}]}


@pytest.fixture(scope="module")
async def shared(kube_bin, redfish_factory, temporal_server, tmp_path_factory):
    emulator = redfish_factory(HOSTS)
    work = tmp_path_factory.mktemp("shared-kwok")
    path = work / "topology.yaml"
    path.write_text(yaml.safe_dump(topology(emulator.url, str(emulator.credentials_file))))
    async with running_stack(work / "legato", temporal_server.address, topology=path, testbed_bin=kube_bin) as stack:
        stack.emulator = emulator
        stack.kwok = stack.adapters.mcm.backends.of(SITE)
        api = await stack.kwok.api_client(CLUSTER)
        stack.apps, stack.core = client.AppsV1Api(api), client.CoreV1Api(api)
        yield stack
        await delete_every_cluster(stack.kwok)


# ---- reading the cluster and the inventory


async def nodes(stack) -> set[str]:
    return {n.metadata.name for n in (await asyncio.to_thread(stack.core.list_node)).items}


async def live_pods(stack, selector: dict[str, str]) -> list[client.V1Pod]:
    sel = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = (await asyncio.to_thread(stack.core.list_pod_for_all_namespaces, label_selector=sel)).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


async def pod_nodes(stack, service_id: str) -> list[str]:
    return sorted(p.spec.node_name for p in await live_pods(stack, {SERVICE: service_id}))


def held_by(stack, owner: str) -> set[str]:
    return stack.inventory_hosts(owner)


async def terminate(stack, service_id: str) -> dict:
    async with stack.http() as http:
        assert (await http.delete(f"/v1/services/{service_id}")).status_code == 202
    return await stack.wait_state(service_id, {"terminated"}, timeout=180)


async def back_to_original(stack) -> None:
    """Every test leaves the cluster as it found it: its two nodes, no Legato pod, no host held."""
    await until(lambda: _empty(stack), timeout=60)
    assert await nodes(stack) == ORIGINAL
    assert powered_on(stack.emulator) == set()
    rows, _ = stack.inventory.hosts(0, 1000, SITE)
    assert {h.id: h.state for h in rows if h.state != "free" and h.id not in ORIGINAL} == {}
    assert stack.inventory.reservations() == [] and ledger(stack).holds() == {}


async def _empty(stack) -> bool:
    return not await live_pods(stack, {"app.kubernetes.io/managed-by": "legato"})


def ledger(stack):
    return stack.adapters.pim.backends.of(SITE).ledger


async def set_cordon(stack, closed: bool) -> None:
    for node in await nodes(stack):
        await asyncio.to_thread(stack.core.patch_node, node, {"spec": {"unschedulable": closed or None}})


async def pooled_row(stack, host: str) -> dict:
    async with stack.http("operator") as http:
        hosts = (await http.get("/v1/hosts", params={"site": SITE, "limit": 100})).json()
    [row] = [h for h in hosts["items"] if h["id"] == host]
    return row


async def reconcile_now(stack) -> dict:
    """The `reconcile` schedule's workflow, run once now."""
    temporal = await connect(stack.settings)
    return await temporal.execute_workflow("Reconcile", id=f"reconcile-now-{time.time_ns()}",
                                           task_queue=stack.settings.task_queue)


# ---- the tests


async def test_concurrent_deployments_that_all_fit_all_become_active(shared):
    # Two fit on the cluster's nodes as they are (one 3-vCPU replica per 4-vCPU node), the other
    # four each need a host of their own added to it: six placements race for the same room.
    ids = await asyncio.gather(*(shared.deploy(on_site(f"par-{i}", 1, 3)) for i in range(6)))
    states = await asyncio.gather(*(shared.wait_state(sid, {"active", "failed"}, timeout=240) for sid in ids))
    assert [(s["id"], s.get("error")) for s in states if s["state"] != "active"] == []
    held = [h for sid in ids for h in held_by(shared, sid)]
    assert len(held) == len(set(held)) == 4  # four hosts added, none promised twice
    bmc = {h: hold.owner for h, hold in ledger(shared).holds().items()}  # the Redfish PIM's own claims
    assert bmc == {h: sid for sid in ids for h in held_by(shared, sid)}
    assert set(held) <= powered_on(shared.emulator) and await nodes(shared) == ORIGINAL | set(held)
    where = [n for sid in ids for n in await pod_nodes(shared, sid)]
    assert len(where) == len(set(where)) == 6  # one replica per node, as placement reserved them
    assert shared.inventory.reservations() == []
    await asyncio.gather(*(shared.remove(sid) for sid in ids))
    await back_to_original(shared)


async def test_replicas_that_fit_the_cluster_in_total_but_not_node_by_node_grow_it(shared):
    # 2 x 4 vCPU nodes hold 8 vCPU, enough for 3 x 2.5 in total, but each node takes only one.
    sid = await active(shared, on_site("wide", 3, 2.5))
    added = await nodes(shared) - ORIGINAL
    assert len(added) == 1 and held_by(shared, sid) == added and added <= powered_on(shared.emulator)
    pods = await live_pods(shared, {SERVICE: sid})
    assert len(pods) == 3 and sorted(p.spec.node_name for p in pods) == sorted(ORIGINAL | added)
    await shared.remove(sid)
    await back_to_original(shared)


async def test_terminating_a_service_moves_others_off_its_node_before_removing_it(shared):
    a = await active(shared, on_site("a", 1, 2))  # a0 on kw-h1
    b = await active(shared, on_site("b", 3, 2))  # fills kw-h1 (beside a0) and kw-h2
    assert (await operate(shared, a, "components/work/scale", {"replicas": 2}))["state"] == "succeeded"
    [extra] = await nodes(shared) - ORIGINAL  # a's second replica needed a node of its own
    assert held_by(shared, a) == {extra}
    c = await active(shared, on_site("c", 1, 2))  # lands on a's node: the only room left
    assert await pod_nodes(shared, c) == [extra]
    with PodHistory(shared.core, None) as history:
        done = await terminate(shared, a)
        assert done["error"] is None
    # From the whole history: the others never had fewer ready pods than they asked for...
    assert history.min_serving({SERVICE: b}) == 3 and history.min_serving({SERVICE: c}) == 1
    assert len(history.pods_seen({SERVICE: c})) == 2  # ...and c was moved, make-before-break
    assert await pod_nodes(shared, c) != [extra] and await nodes(shared) == ORIGINAL
    assert held_by(shared, a) == set() and extra not in powered_on(shared.emulator)
    shared.assert_nothing_left(a)
    for sid in (c, b):
        await shared.remove(sid)
    await back_to_original(shared)


async def test_a_node_nobody_else_can_hold_goes_to_the_pool_and_comes_back_when_empty(shared):
    a = await active(shared, on_site("a", 1, 1))  # a0 on kw-h1
    b = await active(shared, on_site("b", 2, 3))  # kw-h1 full, kw-h2 1 vCPU free
    assert (await operate(shared, a, "components/work/scale", {"replicas": 3}))["state"] == "succeeded"
    [extra] = await nodes(shared) - ORIGINAL
    c = await active(shared, on_site("c", 1, 2))  # on a's node; without a, 1 vCPU free elsewhere: too little
    assert await pod_nodes(shared, c) == [extra]
    with PodHistory(shared.core, None) as history:
        assert (await terminate(shared, a))["state"] == "terminated"  # never hangs
    assert history.min_serving({SERVICE: c}) == 1 and history.min_serving({SERVICE: b}) == 2
    assert await pod_nodes(shared, c) == [extra]  # c was left where it runs
    pool = f"cluster-{CLUSTER}"
    assert held_by(shared, pool) == {extra} and extra in await nodes(shared) and extra in powered_on(shared.emulator)
    row = await pooled_row(shared, extra)
    assert row["service_id"] == pool and row["cluster"] == CLUSTER
    shared.assert_nothing_left(a)

    await shared.remove(c)
    summary = await reconcile_now(shared)
    assert summary["pool_nodes_given_back"] == 1
    assert await nodes(shared) == ORIGINAL and held_by(shared, pool) == set()
    assert (await pooled_row(shared, extra))["state"] == "free" and extra not in powered_on(shared.emulator)
    await shared.remove(b)
    await back_to_original(shared)


async def test_scale_in_gives_the_added_host_back(shared):
    a = await active(shared, on_site("a", 1, 3))
    assert (await operate(shared, a, "components/work/scale", {"replicas": 3}))["state"] == "succeeded"
    added = await nodes(shared) - ORIGINAL  # one replica per node: a third node
    assert len(added) == 1 and held_by(shared, a) == added and added <= powered_on(shared.emulator)
    # The replica that stays is the one on the added node (the ReplicaSet deletes the cheapest
    # first): giving the node back must move it, make-before-break.
    for pod in await live_pods(shared, {SERVICE: a}):
        cost = "1000" if pod.spec.node_name in added else "-1000"
        await asyncio.to_thread(shared.core.patch_namespaced_pod, pod.metadata.name, pod.metadata.namespace, {
            "metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": cost}}})  # fmt: skip
    with PodHistory(shared.core, None) as history:
        record = await operate(shared, a, "components/work/scale", {"replicas": 1})
        assert record["state"] == "succeeded", record
    assert history.min_serving({SERVICE: a}) >= 1
    assert len(history.pods_seen({SERVICE: a})) == 4  # the three, and the survivor's replacement
    assert await nodes(shared) == ORIGINAL and held_by(shared, a) == set()
    assert not added & powered_on(shared.emulator)
    [pod] = await live_pods(shared, {SERVICE: a})
    assert pod.spec.node_name in ORIGINAL
    await shared.remove(a)
    await back_to_original(shared)


async def test_an_upgrade_whose_pods_never_become_ready_is_undone_at_its_deadline(shared):
    sid = await active(shared, on_site("stuck", 2, 0.5))
    [workload] = {p.metadata.labels[WORKLOAD] for p in await live_pods(shared, {SERVICE: sid})}
    # Every node cordoned: a new pod stays Pending, as one whose image never pulls would.
    await set_cordon(shared, True)
    try:
        with PodHistory(shared.core, None) as history:
            for path, body in (
                ("upgrade", {"version": "2.0", "progress_deadline_seconds": DEADLINE}),
                ("upgrade", {"version": "2.0", "strategy": "canary", "canary": {"observe_seconds": 0},
                             "progress_deadline_seconds": DEADLINE}),
                ("scale", {"replicas": 4, "progress_deadline_seconds": DEADLINE}),
            ):  # fmt: skip
                started = time.monotonic()
                record = await operate(shared, sid, f"components/work/{path}", body)
                assert record["state"] == "failed" and "deadline" in record["detail"], record
                assert DEADLINE <= time.monotonic() - started < 60  # at its deadline, not before, not never
                # Undone: the old version, its two replicas available, no new pod and no canary left.
                d = await until(lambda: _settled(shared, workload, 2))
                assert d.spec.template.spec.containers[0].image == "registry.example/stuck:1.0"
                deployments = (await asyncio.to_thread(shared.apps.list_deployment_for_all_namespaces,
                                                       label_selector=f"{SERVICE}={sid}")).items  # fmt: skip
                assert [x.metadata.name for x in deployments] == [workload]
        assert history.min_serving({WORKLOAD: workload}) == 2  # the old version served throughout
        assert len(history.pods_seen({WORKLOAD: workload})) > 2  # ...while new pods were tried
    finally:
        await set_cordon(shared, False)
    # The service is free for the next operation, which succeeds.
    record = await operate(shared, sid, "components/work/upgrade", {"version": "2.0"})
    assert record["state"] == "succeeded", record
    pods = await live_pods(shared, {SERVICE: sid})
    assert sorted(p.spec.containers[0].image for p in pods) == ["registry.example/stuck:2.0"] * 2
    await shared.remove(sid)
    await back_to_original(shared)


async def _settled(stack, workload: str, replicas: int) -> client.V1Deployment | None:
    """The Deployment at `replicas`, all of them available and nothing else left (no surge pod)."""
    [d] = (await asyncio.to_thread(stack.apps.list_deployment_for_all_namespaces,
                                   field_selector=f"metadata.name={workload}")).items  # fmt: skip
    pods = await live_pods(stack, {WORKLOAD: workload})
    ok = d.spec.replicas == replicas and (d.status.available_replicas or 0) == replicas and len(pods) == replicas
    return d if ok else None


async def test_a_node_an_operator_took_from_a_service_is_never_removed_by_its_teardown(shared):
    """An operator may not take a node a service added (409); and a teardown only ever drains nodes
    still held under the allocation that added them. Runs last: if that ever breaks, what leaks is
    given back by hand at the end."""
    c = d = None
    try:
        b = await active(shared, on_site("b", 2, 3))  # fills both nodes
        a = await active(shared, on_site("a", 1, 2))  # grows the cluster: a node of its own
        [extra] = await nodes(shared) - ORIGINAL
        await shared.remove(b)
        async with shared.http("operator") as http:  # a's pod fits on the emptied nodes: the drain can go
            shrunk = await http.post(f"/v1/clusters/{CLUSTER}/scale", json={"remove_hosts": [extra]}, timeout=180)
        assert shrunk.status_code in (200, 409), shrunk.text  # taken from a, or refused as a's: either is sound
        d = await active(shared, on_site("d", 1, 3))
        c = await active(shared, on_site("c", 1, 3))  # today: grows the cluster with the same host again
        mine = held_by(shared, c)
        assert mine <= await nodes(shared)
        with PodHistory(shared.core, None) as history:
            assert (await terminate(shared, a))["state"] == "terminated"
        assert history.min_serving({SERVICE: c}) == 1
        assert held_by(shared, c) == mine and mine <= await nodes(shared)  # a never removes c's node
        await shared.remove(c)  # nothing of c left: its host released too
        c = None
    finally:
        for sid in (c, d):
            if sid is not None:
                await terminate(shared, sid)
        pim = shared.adapters.pim
        for host, hold in ledger(shared).holds().items():  # give back by hand what the bug leaked
            await pim.release_hosts(f"test-cleanup/{host}", hold.allocation_op, [host])
    await back_to_original(shared)
