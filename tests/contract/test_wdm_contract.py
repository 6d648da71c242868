"""The WDM contract (the table in legato/adapters/wdm/__init__.py), held against every backend: the
sim and Kubernetes (a kwok control plane: real Deployments rolled by the real controller)."""

from __future__ import annotations

import asyncio
import time

import pytest

from legato.adapters.errors import CapacityExhausted, InvalidRequest, NotFound, PermanentFault, TransientFault
from legato.model.workloads import WorkloadStatus
from tests.contract.worlds import WdmWorld, known_gap, until

GHOST = "ghost-c0ffee"
GHOST_CLUSTER = "no-such-cluster"
KUBERNETES_DEDUPS_BY_NAME = ("Kubernetes dedups by name (server-side apply), not by op id: a deploy repeated after "
                             "an upgrade applies the old template again")  # fmt: skip


def identity(status: WorkloadStatus) -> tuple:
    return status.id, status.cluster, status.component, status.service_id, status.version, status.replicas


async def listed(w: WdmWorld, cluster_id: str | None = None) -> list[str]:
    return [s.id for s in await w.wdm.list_workloads(cluster_id)]


async def test_deploy_dedups_on_the_op_id_and_the_workload_is_named_by_its_spec(wdm_world: WdmWorld):
    w = wdm_world
    spec = w.workload("api", 2)
    first = await w.deploy("op-deploy", spec)
    assert identity(first) == (spec.id, w.cluster, "api", "svc-contract", "1.0", 2)
    assert identity(await w.deploy("op-deploy", spec)) == identity(first)
    await w.settled(spec.id)
    assert (await listed(w, w.cluster)).count(spec.id) == 1

    # Another op with the same spec id is the same workload, updated in place.
    grown = await w.deploy("op-deploy-2", spec.model_copy(update={"replicas": 3}))
    assert identity(grown) == (spec.id, w.cluster, "api", "svc-contract", "1.0", 3)
    assert sum((await w.settled(spec.id)).nodes.values()) == 3
    assert (await listed(w, w.cluster)).count(spec.id) == 1


async def test_a_repeat_after_a_later_change_does_not_act_again(wdm_world: WdmWorld, request):
    w = wdm_world
    known_gap(request, w.backend, {"kubernetes": KUBERNETES_DEDUPS_BY_NAME})
    spec = w.workload("app", 1)
    await w.deploy("op-deploy", spec)
    await w.settled(spec.id)
    await w.wdm.upgrade("op-upgrade", w.cluster, spec.id, spec.image, "2.0")
    assert (await w.settled(spec.id)).version == "2.0"
    await w.deploy("op-deploy", spec)
    assert (await w.wdm.status(w.cluster, spec.id)).version == "2.0"


async def test_status_reports_what_runs_where_and_list_workloads_the_same(wdm_world: WdmWorld):
    w = wdm_world
    spec = w.workload("web", 2)
    await w.deploy("op-deploy", spec)
    status = await w.settled(spec.id)
    assert identity(status) == (spec.id, w.cluster, "web", "svc-contract", "1.0", 2)
    assert (status.ready_replicas, status.serving, status.updated_replicas) == (2, {"1.0": 2}, 2)
    assert sum(status.nodes.values()) == 2 and set(status.nodes) <= set(w.nodes)
    assert status.endpoint and status.endpoint.rsplit(":", 1)[1] == "8080"
    (same,) = [s for s in await w.wdm.list_workloads(w.cluster) if s.id == spec.id]
    assert identity(same) == identity(status) and same.nodes == status.nodes
    assert spec.id in await listed(w)


async def test_an_unknown_workload_reads_as_none_removes_as_done_and_changes_as_not_found(wdm_world: WdmWorld):
    w = wdm_world
    assert await w.wdm.status(w.cluster, GHOST) is None
    assert await w.wdm.metrics(w.cluster, GHOST) is None
    with pytest.raises(NotFound):
        await w.wdm.scale("op-scale", w.cluster, GHOST, 2)
    with pytest.raises(NotFound):
        await w.wdm.upgrade("op-upgrade", w.cluster, GHOST, "registry.example/app", "2.0")
    await w.wdm.remove("op-remove", w.cluster, GHOST)
    await w.wdm.remove("op-remove", w.cluster, GHOST)
    await w.wdm.remove("op-remove-2", w.cluster, GHOST)
    assert GHOST not in await listed(w, w.cluster)


async def test_a_cluster_the_backend_does_not_hold_is_not_found_to_deploy_on(wdm_world: WdmWorld):
    w = wdm_world
    spec = w.workload("lost", 1)
    with pytest.raises(NotFound):
        await w.wdm.deploy("op-deploy", GHOST_CLUSTER, spec)
    if w.answers_any_cluster:  # the sim: as for an absent workload
        assert await w.wdm.status(GHOST_CLUSTER, spec.id) is None
        assert await w.wdm.metrics(GHOST_CLUSTER, spec.id) is None
        await w.wdm.remove("op-remove", GHOST_CLUSTER, spec.id)
        return
    for read in (w.wdm.status(GHOST_CLUSTER, spec.id), w.wdm.metrics(GHOST_CLUSTER, spec.id),  # declared: Kubernetes
                 w.wdm.remove("op-remove", GHOST_CLUSTER, spec.id)):  # fmt: skip
        with pytest.raises(NotFound):
            await read


async def test_negative_replicas_are_an_invalid_request(wdm_world: WdmWorld):
    w = wdm_world
    with pytest.raises(InvalidRequest):
        await w.deploy("op-deploy-negative", w.workload("neg", -1))
    assert await w.wdm.status(w.cluster, w.workload("neg", 1).id) is None
    spec = w.workload("pos", 1)
    await w.deploy("op-deploy", spec)
    with pytest.raises(InvalidRequest):
        await w.wdm.scale("op-scale-negative", w.cluster, spec.id, -1)
    assert (await w.settled(spec.id)).replicas == 1


async def test_replicas_no_node_can_hold_are_refused_by_name(wdm_world: WdmWorld):
    w = wdm_world
    spec = w.workload("huge", 1, cpu=w.node_cpu * 2)
    if w.admits_unschedulable:  # declared: admitted, and left Pending for the readiness deadline to refuse
        await w.deploy("op-deploy", spec)
        await asyncio.sleep(1.5)
        status = await w.wdm.status(w.cluster, spec.id)
        assert (status.replicas, status.ready_replicas, status.nodes) == (1, 0, {})
        return
    with pytest.raises(CapacityExhausted) as refused:
        await w.deploy("op-deploy", spec)
    assert refused.value.resources == [f"cluster:{w.cluster}"]
    assert await w.wdm.status(w.cluster, spec.id) is None


async def test_scale_dedups_on_the_op_id_and_reaches_the_count(wdm_world: WdmWorld):
    w = wdm_world
    spec = w.workload("scaled", 1)
    await w.deploy("op-deploy", spec)
    await w.settled(spec.id)
    up = await w.wdm.scale("op-scale", w.cluster, spec.id, 3)
    assert identity(up)[:5] == identity(await w.wdm.status(w.cluster, spec.id))[:5] and up.replicas == 3
    assert (await w.wdm.scale("op-scale", w.cluster, spec.id, 3)).replicas == 3
    assert sum((await w.settled(spec.id)).nodes.values()) == 3
    down = await w.wdm.scale("op-scale-down", w.cluster, spec.id, 1)
    assert down.replicas == 1
    assert sum((await w.settled(spec.id)).nodes.values()) == 1


async def test_upgrade_rolls_with_surge_and_the_same_version_changes_nothing(wdm_world: WdmWorld):
    w = wdm_world
    spec = w.workload("rolled", 2)
    await w.deploy("op-deploy", spec)
    await w.settled(spec.id)
    started = await w.wdm.upgrade("op-upgrade", w.cluster, spec.id, spec.image, "1.1")
    assert started.version == "1.1"
    lowest = 2

    async def rolled() -> WorkloadStatus | None:
        nonlocal lowest
        status = await w.wdm.status(w.cluster, spec.id)
        lowest = min(lowest, sum(status.serving.values()))
        return status if status.ready and status.serving == {"1.1": 2} else None

    final = await until(rolled, every=0.02)
    assert lowest >= 2  # the old replicas served until their replacements were ready
    assert (final.version, final.ready_replicas, final.updated_replicas) == ("1.1", 2, 2)
    assert (await w.wdm.upgrade("op-upgrade", w.cluster, spec.id, spec.image, "1.1")).version == "1.1"
    same = await w.wdm.upgrade("op-upgrade-same", w.cluster, spec.id, spec.image, "1.1")
    assert (same.version, same.ready_replicas, same.serving) == ("1.1", 2, {"1.1": 2})  # no rollout began


async def test_remove_is_idempotent(wdm_world: WdmWorld):
    w = wdm_world
    spec = w.workload("gone", 1)
    await w.deploy("op-deploy", spec)
    await w.settled(spec.id)
    await w.wdm.remove("op-remove", w.cluster, spec.id)
    assert await w.wdm.status(w.cluster, spec.id) is None
    assert spec.id not in await listed(w, w.cluster)
    await w.wdm.remove("op-remove", w.cluster, spec.id)
    await w.wdm.remove("op-remove-2", w.cluster, spec.id)


async def test_metrics_report_the_version_and_an_error_rate(wdm_world: WdmWorld):
    w = wdm_world
    spec = w.workload("measured", 1)
    await w.deploy("op-deploy", spec)
    await w.settled(spec.id)
    metrics = await w.wdm.metrics(w.cluster, spec.id)
    assert (metrics.id, metrics.version) == (spec.id, "1.0") and 0 <= metrics.error_rate <= 1


async def test_serving_history_is_none_for_what_never_ran_here(wdm_world: WdmWorld):
    w = wdm_world
    assert await w.wdm.serving_history("svc-contract", "never-ran", 0, time.time()) is None
    spec = w.workload("kept", 2)
    await w.deploy("op-deploy", spec)
    await w.settled(spec.id)
    since = time.time()
    history = await w.wdm.serving_history("svc-contract", "kept", since, time.time())
    if not w.keeps_history:  # declared: Kubernetes keeps none, the readiness waits sample instead
        assert history is None
        return
    assert history.min_ready == 2


async def test_a_backend_out_of_reach_is_a_transient_fault_and_the_retry_acts_once(wdm_world: WdmWorld):
    w = wdm_world
    spec = w.workload("retried", 1)
    w.deployed.append(spec.id)
    with pytest.raises(TransientFault):
        await w.unreachable().deploy("op-deploy", w.cluster, spec)
    w.heal()
    await w.deploy("op-deploy", spec)
    await w.settled(spec.id)
    assert (await listed(w, w.cluster)).count(spec.id) == 1


async def test_a_backend_that_refuses_for_good_is_a_permanent_fault(wdm_world: WdmWorld):
    w = wdm_world
    spec = w.workload("refused", 1)
    w.deployed.append(spec.id)
    with pytest.raises(PermanentFault):
        await w.refusing().deploy("op-deploy", w.cluster, spec)
    w.heal()
    assert await w.wdm.status(w.cluster, spec.id) is None
