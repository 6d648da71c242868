"""The MCM contract's upgrade rules (the table in legato/adapters/mcm/__init__.py), held against the
sim, kwok (real control planes restarted on the test bed's second minor, scripts/testbed.d/kube-next.sh)
and the kubeconfig MCM, whose declared exception (it upgrades nothing) is held as such.

Each backend upgrades a cluster the test creates, so the module's shared cluster keeps its version."""

from __future__ import annotations

import pytest

from legato.adapters.errors import InvalidRequest, NotFound, TransientFault
from legato.model.versions import parse
from tests.contract.test_mcm_contract import GHOST, refuses
from tests.contract.worlds import McmWorld, settled, until, workload

OWN = "own-up"
SLOW = 180  # seconds: a fresh control plane's first pods, a restart, on a machine shared with other runs


def next_minor(current: str, offered: list[str]) -> str:
    """The newest patch of the next minor the backend offers (what an operator upgrades to)."""
    major, minor, _ = parse(current)
    found = [v for v in offered if parse(v)[:2] == (major, minor + 1)]
    assert found, f"the backend offers no release of v{major}.{minor + 1} beside {current}: {offered}"
    return max(found, key=parse)


async def reported(w: McmWorld, cluster_id: str, version: str, nodes: list[str] | None = None):
    cluster = await w.mcm.get_cluster(cluster_id)
    if cluster.kubernetes_version != version:
        return None
    if nodes is not None and any(cluster.node_versions.get(n) != version for n in nodes):
        return None
    return cluster


async def test_versions_are_read_from_the_cluster(mcm_world: McmWorld):
    w = mcm_world
    shared = await w.mcm.get_cluster(w.shared)
    parse(shared.kubernetes_version)  # a real version as the control plane reports it, not a topology string
    assert shared.kubernetes_version.startswith("v")
    assert sorted(shared.node_versions) == shared.hosts
    assert set(shared.node_versions.values()) == {shared.kubernetes_version}
    with pytest.raises(NotFound):
        await w.mcm.kubernetes_versions(GHOST)
    if not w.changes_nodes:
        assert await w.mcm.kubernetes_versions(w.shared) == []
    else:
        assert shared.kubernetes_version in await w.mcm.kubernetes_versions(w.shared)


async def test_an_upgrade_is_the_control_plane_then_drained_nodes_one_allowed_step(mcm_world: McmWorld):
    w = mcm_world
    if not w.changes_nodes:
        await refuses(w.mcm.upgrade_control_plane("op-up", w.shared, "v1.35.4"))
        return await refuses(w.mcm.upgrade_nodes("op-up-nodes", w.shared, list(w.nodes), "v1.35.4"))
    a, b = w.spare[:2]
    await w.allocate("op-alloc", [a, b], "svc-a")
    w.created.append(OWN)
    made = await w.mcm.create_cluster("op-create", OWN, w.site, [a, b], "svc-a")
    old = made.kubernetes_version
    assert made.node_versions == {a: old, b: old}  # nodes join with their control plane's kubelet
    offered = await w.mcm.kubernetes_versions(OWN)
    assert offered == sorted(offered, key=parse) and old in offered
    new = next_minor(old, offered)

    # Refused before anything changes: not a version, not offered, two minors up, down, nodes first.
    major, minor, _ = parse(old)
    for i, bad in enumerate(["latest", f"v{major}.{minor}.99", f"v{major}.{minor + 2}.0", f"v{major}.{minor - 1}.0"]):
        with pytest.raises(InvalidRequest):
            await w.mcm.upgrade_control_plane(f"op-bad-{i}", OWN, bad)
    with pytest.raises(InvalidRequest, match="control plane"):
        await w.mcm.upgrade_nodes("op-nodes-first", OWN, [a], new)
    with pytest.raises(NotFound):
        await w.mcm.upgrade_control_plane("op-ghost", GHOST, new)
    assert await reported(w, OWN, old, [a, b])
    # The cluster's own version is nothing to do.
    assert (await w.mcm.upgrade_control_plane("op-same", OWN, old)).kubernetes_version == old

    # A pod on the cluster keeps running through the control plane's restart.
    web = workload("web", 1, cpu=0.5)
    await w.wdm.deploy("op-deploy-web", OWN, web)
    placed = await until(lambda: settled(w.wdm, OWN, web.id), timeout=SLOW)
    await w.mcm.upgrade_control_plane("op-up", OWN, new)
    upgraded = await until(lambda: reported(w, OWN, new), timeout=SLOW)
    assert upgraded.node_versions == {a: old, b: old}  # the kubelets are the nodes' own step
    assert (await w.mcm.upgrade_control_plane("op-up", OWN, new)).id == OWN  # a repeat acts no more
    assert (await w.wdm.status(OWN, web.id)).ready_replicas == 1

    # A node still running a pod is not replaced; drained, it comes back under its name on the new kubelet.
    (busy,) = placed.nodes
    (idle,) = [n for n in (a, b) if n != busy]
    with pytest.raises(TransientFault):
        await w.mcm.upgrade_nodes("op-nodes-busy", OWN, [busy], new)
    after = await w.mcm.upgrade_nodes("op-nodes-idle", OWN, [idle, "not-a-node"], new)
    assert after.hosts == sorted([a, b])
    await until(lambda: reported(w, OWN, new, [idle]), timeout=SLOW)
    await w.mcm.drain_nodes("op-drain", OWN, [busy], partial=False)
    moved = await until(lambda: _settled_on(w, web.id, idle), timeout=SLOW)
    assert moved.ready_replicas == 1
    await until(lambda: _empty(w, busy), timeout=SLOW)
    await w.mcm.upgrade_nodes("op-nodes-busy-2", OWN, [busy], new)
    done = await until(lambda: reported(w, OWN, new, [a, b]), timeout=SLOW)
    assert (done.hosts, done.node_versions) == (sorted([a, b]), {a: new, b: new})
    # The replaced node is schedulable again: a pod that needs both nodes gets both.
    pair = workload("pair", 2, cpu=w.node_cpu * 0.75)
    await w.wdm.deploy("op-deploy-pair", OWN, pair)
    assert (await until(lambda: settled(w.wdm, OWN, pair.id), timeout=SLOW)).nodes == {a: 1, b: 1}


async def _settled_on(w: McmWorld, workload_id: str, node: str):
    status = await settled(w.wdm, OWN, workload_id)
    return status if status and status.nodes == {node: 1} else None


async def _empty(w: McmWorld, node: str) -> bool:
    return not (await w.mcm.busy_nodes(OWN, [node]))[node]
