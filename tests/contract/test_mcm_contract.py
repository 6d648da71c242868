"""The MCM contract (the table in legato/adapters/mcm/__init__.py), held against every backend: the
sim, kwok (real control planes), and the kubeconfig MCM over one of them, whose declared exception
(it changes no cluster and no node) is held as such."""

from __future__ import annotations

import pytest

from legato.adapters.errors import CapacityExhausted, InvalidRequest, NotFound, PermanentFault, TransientFault
from legato.model.clusters import DrainResult
from tests.contract.worlds import McmWorld, known_gap, until, workload

GHOST = "no-such-cluster"
NOT_A_NODE = "not-a-node"
KWOK_DEDUPS_BY_NAME = ("the kwok MCM dedups by name, not by op id: add_nodes repeated after its nodes were removed "
                       "adds them back")  # fmt: skip


async def refuses(call) -> None:
    """The kubeconfig MCM's declared exception: no cluster or node of its is Legato's to change."""
    with pytest.raises(InvalidRequest, match="registered by kubeconfig"):
        await call


async def hosts_of(w: McmWorld, cluster_id: str) -> list[str]:
    return (await w.mcm.get_cluster(cluster_id)).hosts


async def drained(w: McmWorld, nodes: list[str]) -> bool:
    return not any((await w.mcm.busy_nodes(w.shared, nodes)).values())


async def test_reads_report_the_clusters_their_nodes_and_owners(mcm_world: McmWorld):
    w = mcm_world
    shared = await w.mcm.get_cluster(w.shared)
    assert (shared.id, shared.site, shared.hosts, shared.shared, shared.service_id) == (
        w.shared, w.site, list(w.nodes), True, None)  # fmt: skip
    assert [c for c in await w.mcm.list_clusters(w.site) if c.id == w.shared] == [shared]
    assert w.shared in {c.id for c in await w.mcm.list_clusters()}
    assert w.shared not in {c.id for c in await w.mcm.list_clusters(w.other_site)}
    assert await w.mcm.get_cluster(GHOST) is None


async def test_an_owned_cluster_is_named_by_the_caller_created_once_and_deleted_idempotently(mcm_world: McmWorld):
    w = mcm_world
    a, b = w.spare[:2]
    if not w.changes_nodes:
        return await refuses(w.mcm.create_cluster("op-create", "own-1", w.site, [a], "svc-a"))
    await w.allocate("op-alloc", [a, b], "svc-a")
    w.created.append("own-1")
    first = await w.mcm.create_cluster("op-create", "own-1", w.site, [a], "svc-a")
    assert (first.id, first.site, first.hosts, first.shared, first.service_id) == ("own-1", w.site, [a], False, "svc-a")
    assert await w.mcm.create_cluster("op-create", "own-1", w.site, [a], "svc-a") == first

    # The same name, site and owner is the same cluster: new hosts join it, no second one is made.
    joined = await w.mcm.create_cluster("op-create-2", "own-1", w.site, [a, b], "svc-a")
    assert (joined.id, joined.hosts) == ("own-1", [a, b])
    assert [c.id for c in await w.mcm.list_clusters(w.site)].count("own-1") == 1
    assert (await w.mcm.get_cluster("own-1")).hosts == [a, b]
    with pytest.raises(InvalidRequest, match="already exists"):
        await w.mcm.create_cluster("op-create-3", "own-1", w.site, [b], "svc-b")
    with pytest.raises(InvalidRequest, match="already exists"):
        await w.mcm.create_cluster("op-create-4", "own-1", w.other_site, [w.elsewhere], "svc-a")

    await w.mcm.delete_cluster("op-delete", "own-1")
    assert await w.mcm.get_cluster("own-1") is None
    assert "own-1" not in {c.id for c in await w.mcm.list_clusters()}
    await w.mcm.delete_cluster("op-delete", "own-1")
    await w.mcm.delete_cluster("op-delete-2", "own-1")


async def test_a_cluster_that_cannot_be_named_or_built_is_an_invalid_request(mcm_world: McmWorld):
    w = mcm_world
    a = w.spare[0]
    await w.allocate("op-alloc", [a], "svc-a")
    for i, (cluster_id, hosts) in enumerate([
        ("Not_A_DNS_Label", [a]),
        ("own-empty", []),
        ("own-far", [w.elsewhere]),  # a host of another site
    ]):  # fmt: skip
        with pytest.raises(InvalidRequest):
            await w.mcm.create_cluster(f"op-invalid-{i}", cluster_id, w.site, hosts, "svc-a")
        assert await w.mcm.get_cluster(cluster_id) is None


async def test_add_nodes_is_idempotent_and_refuses_what_it_cannot_join(mcm_world: McmWorld):
    w = mcm_world
    a = w.spare[0]
    if not w.changes_nodes:
        return await refuses(w.mcm.add_nodes("op-add", w.shared, [a]))
    await w.allocate("op-alloc", [a], "pool-x")
    grown = await w.mcm.add_nodes("op-add", w.shared, [a])
    assert grown.hosts == sorted([*w.nodes, a])
    assert await w.mcm.add_nodes("op-add", w.shared, [a]) == grown
    assert (await w.mcm.add_nodes("op-add-2", w.shared, [a, w.nodes[0]])).hosts == grown.hosts  # nodes skipped
    with pytest.raises(NotFound):
        await w.mcm.add_nodes("op-add-3", GHOST, [a])
    with pytest.raises(InvalidRequest):
        await w.mcm.add_nodes("op-add-4", w.shared, [w.elsewhere])
    assert await hosts_of(w, w.shared) == grown.hosts


async def test_a_node_of_another_cluster_cannot_join(mcm_world: McmWorld, request):
    w = mcm_world
    a = w.spare[0]
    if not w.changes_nodes:
        return await refuses(w.mcm.add_nodes("op-add", w.shared, [a]))
    known_gap(request, w.backend, {"kwok": "the kwok MCM lets a host be a node of two clusters"})
    await w.allocate("op-alloc", [a], "svc-a")
    w.created.append("own-2")
    await w.mcm.create_cluster("op-create", "own-2", w.site, [a], "svc-a")
    with pytest.raises(InvalidRequest):
        await w.mcm.add_nodes("op-add", w.shared, [a])
    assert a not in await hosts_of(w, w.shared)


async def test_nodes_go_in_three_calls_drain_busy_remove(mcm_world: McmWorld):
    w = mcm_world
    web = await w.deploy(workload("web", 1, cpu=0.5))
    (busy,) = web.nodes
    (other,) = [n for n in w.nodes if n != busy]
    assert await w.mcm.busy_nodes(w.shared, [busy, other, NOT_A_NODE]) == {busy: 1, other: 0, NOT_A_NODE: 0}
    if not w.changes_nodes:
        await refuses(w.mcm.drain_nodes("op-drain", w.shared, [busy], partial=False))
        return await refuses(w.mcm.remove_nodes("op-remove", w.shared, [busy]))

    # A node still running a pod is not removed: its drain is under way (or never began).
    with pytest.raises(TransientFault):
        await w.mcm.remove_nodes("op-remove-early", w.shared, [busy])
    assert await hosts_of(w, w.shared) == list(w.nodes)

    result = await w.mcm.drain_nodes("op-drain", w.shared, [busy, NOT_A_NODE], partial=False)
    assert result == DrainResult(draining=[busy])  # a node not in the cluster is ignored
    assert await w.mcm.drain_nodes("op-drain", w.shared, [busy, NOT_A_NODE], partial=False) == result
    await until(lambda: drained(w, [busy]))
    after = await w.mcm.remove_nodes("op-remove", w.shared, [busy, NOT_A_NODE])
    assert (after.id, after.hosts) == (w.shared, [other])
    assert await w.mcm.remove_nodes("op-remove", w.shared, [busy, NOT_A_NODE]) == after
    assert await hosts_of(w, w.shared) == [other]
    moved = await until(lambda: _settled_on(w, web.id, other))
    assert moved.ready_replicas == 1


async def _settled_on(w: McmWorld, workload_id: str, node: str):
    status = await w.wdm.status(w.shared, workload_id)
    return status if status and status.ready and status.nodes == {node: 1} else None


async def test_a_drain_that_cannot_finish_moves_nothing(mcm_world: McmWorld):
    w = mcm_world
    first, second = w.nodes
    big = await w.deploy(workload("big", 2, cpu=w.node_cpu * 0.75))  # one per node: neither fits beside the other
    assert big.nodes == {first: 1, second: 1}
    if not w.changes_nodes:
        return await refuses(w.mcm.drain_nodes("op-drain", w.shared, [first], partial=True))

    with pytest.raises(CapacityExhausted) as refused:
        await w.mcm.drain_nodes("op-drain-all", w.shared, [first], partial=False)
    assert refused.value.resources == [f"host:{first}"]
    partial = await w.mcm.drain_nodes("op-drain-partial", w.shared, [first], partial=True)
    assert (partial.draining, partial.stuck, list(partial.reasons)) == ([], [first], [first])
    assert await w.mcm.drain_nodes("op-drain-partial", w.shared, [first], partial=True) == partial

    # Left as it was: serving, holding its pod, and schedulable (a new pod that fits only there lands there).
    assert (await w.wdm.status(w.shared, big.id)).nodes == big.nodes
    assert await w.mcm.busy_nodes(w.shared, [first]) == {first: 1}
    with pytest.raises(TransientFault):
        await w.mcm.remove_nodes("op-remove", w.shared, [first])
    probe = await w.deploy(workload("probe", 2, cpu=w.node_cpu * 0.2))
    assert probe.nodes == {first: 1, second: 1}


async def test_a_cluster_that_is_gone_has_nothing_to_drain_hold_or_remove(mcm_world: McmWorld):
    w = mcm_world
    if not w.changes_nodes:
        await refuses(w.mcm.drain_nodes("op-drain", GHOST, [w.nodes[0]], partial=False))
        await refuses(w.mcm.remove_nodes("op-remove", GHOST, [w.nodes[0]]))
        with pytest.raises(NotFound):  # only its registered clusters are its to read
            await w.mcm.busy_nodes(GHOST, [w.nodes[0]])
        return
    assert await w.mcm.drain_nodes("op-drain", GHOST, [w.nodes[0]], partial=False) == DrainResult()
    assert await w.mcm.busy_nodes(GHOST, [w.nodes[0]]) == {w.nodes[0]: 0}
    assert await w.mcm.remove_nodes("op-remove", GHOST, [w.nodes[0]]) is None


async def test_delete_cluster_of_nothing_succeeds_and_a_shared_one_is_refused(mcm_world: McmWorld):
    w = mcm_world
    await w.mcm.delete_cluster("op-delete", GHOST)
    await w.mcm.delete_cluster("op-delete", GHOST)
    with pytest.raises(InvalidRequest):
        await w.mcm.delete_cluster("op-delete-shared", w.shared)
    assert await hosts_of(w, w.shared) == list(w.nodes)


async def test_a_repeat_after_a_later_change_does_not_act_again(mcm_world: McmWorld, request):
    w = mcm_world
    a = w.spare[0]
    if not w.changes_nodes:
        return await refuses(w.mcm.add_nodes("op-add", w.shared, [a]))
    known_gap(request, w.backend, {"kwok": KWOK_DEDUPS_BY_NAME})
    await w.allocate("op-alloc", [a], "pool-x")
    grown = await w.mcm.add_nodes("op-add", w.shared, [a])
    await w.mcm.drain_nodes("op-drain", w.shared, [a], partial=False)
    await until(lambda: drained(w, [a]))
    await w.mcm.remove_nodes("op-remove", w.shared, [a])
    assert await w.mcm.add_nodes("op-add", w.shared, [a]) == grown  # the first answer...
    assert await hosts_of(w, w.shared) == list(w.nodes)  # ...and no second act


@pytest.mark.parametrize(("fault", "error"), [("unreachable", TransientFault), ("refusing", PermanentFault)])
async def test_a_backend_out_of_reach_is_transient_and_one_that_refuses_for_good_permanent(
        mcm_world: McmWorld, fault: str, error: type[Exception]):
    w = mcm_world
    broken = getattr(w, fault)()
    with pytest.raises(error):
        if w.changes_nodes:
            await broken.drain_nodes("op-drain", w.shared, [w.nodes[0]], partial=True)
        else:
            await broken.busy_nodes(w.shared, [w.nodes[0]])
    w.heal()
    assert await hosts_of(w, w.shared) == list(w.nodes)
