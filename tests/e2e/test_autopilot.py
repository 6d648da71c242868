"""The autopilot on the sim, through the real API and the real dev server: a component loaded
above its SLO's utilisation band is scaled out by an Autopilot round, as its own day-2 operation
asked by `autopilot`, with the reason and figures in the measures; nothing more within the
cooldown; the action's effect measured after; in approval mode only a proposal is recorded."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from legato.activities.contracts import AutopilotRound
from legato.temporal import connect
from legato.workflows.autopilot import Autopilot, AutopilotSummary
from tests.e2e.calls import active
from tests.e2e.test_shared_continuum import on_milan

SPEC = {"name": "busy", "components": [{"name": "web", "image": "registry.example/web", "replicas": 2, "cpu": 0.5}],
        "user_areas": [{"area": "paris-center", "demand_rps": 100, "max_latency_ms": 50}],
        "slos": [{"component": "web", "utilisation": [0.3, 0.7]}]}  # fmt: skip
ROUND = AutopilotRound(window_seconds=1, horizon_steps=2, season_steps=None, before_samples=1, settle_seconds=0,
                       measure_after_seconds=0.001)  # measured by the next round, on its reading after the action


async def policy(stack, **fields) -> None:
    async with stack.http("operator") as op:
        resp = await op.put("/v1/autopilot/policy", json={"cooldown_seconds": 600, **fields})
        assert resp.status_code == 200, resp.text


async def autopilot_round(stack) -> AutopilotSummary:
    client = await connect(stack.settings)
    return await client.execute_workflow(Autopilot.run, ROUND, id=f"autopilot-test-{uuid.uuid4().hex[:8]}",
                                         task_queue=stack.settings.task_queue)


async def loaded(stack) -> str:
    service_id = await stack.deploy(SPEC)
    await stack.wait_state(service_id, {"active"})
    async with stack.http("operator") as op:  # 100 req/s x 9 ms of CPU over 2 x 0.5 CPU: 90% busy
        resp = await op.post("/v1/sim/load/request-cost", json={"service_id": service_id, "component": "web",
                                                                "cpu_seconds": 0.009})
        assert resp.status_code == 200, resp.text
    return service_id


async def test_a_component_above_its_band_is_scaled_out_and_the_effect_measured(stack):
    await policy(stack, approval="auto")
    service_id = await loaded(stack)

    first = await autopilot_round(stack)
    assert first.outcomes == {"done": 1}, first
    (measure_id, reason), = (a.split(": ", 1) for a in first.actions)
    assert "utilisation 90% > 70% now: 2 -> 4 replicas" == reason
    async with stack.http() as client:
        ops = (await client.get(f"/v1/services/{service_id}/operations")).json()
        scale = next(o for o in ops if o["request_id"] == measure_id)
        assert (scale["kind"], scale["requested_by"], scale["state"]) == ("scale", "autopilot", "succeeded")
        (web,) = (await client.get(f"/v1/services/{service_id}")).json()["components"]
        assert web["replicas"] == 4
        shown = (await client.get(f"/v1/measures/{measure_id}")).json()
        assert (shown["kind"], shown["breach"], shown["state"]) == ("scale", "utilisation", "done")
        assert shown["before"]["cpu_utilisation"] == pytest.approx(0.9, abs=0.05)

    await asyncio.sleep(ROUND.window_seconds)  # the next reading's whole window after the action
    second = await autopilot_round(stack)  # within the cooldown: nothing, whatever the readings
    assert second.actions == [] and second.measured == 1, second
    async with stack.http() as client:
        measured = (await client.get(f"/v1/measures/{measure_id}")).json()
    assert measured["state"] == "measured" and measured["helped"] is True, measured
    assert measured["after"]["cpu_utilisation"] < 0.7 and measured["effect"]["cpu_utilisation"] < -0.3
    await stack.remove(service_id)


async def test_in_approval_mode_a_proposal_is_recorded_and_nothing_moves_until_approved(stack):
    await policy(stack, approval="approve")
    service_id = await loaded(stack)
    summary = await autopilot_round(stack)
    assert summary.outcomes == {"proposed": 1}, summary
    async with stack.http() as client:
        (proposal,) = (await client.get("/v1/measures", params={"service_id": service_id})).json()["items"]
        assert proposal["state"] == "proposed" and proposal["mode"] == "approve"
        ops = (await client.get(f"/v1/services/{service_id}/operations")).json()
        assert not any(o["requested_by"] == "autopilot" for o in ops)
        (web,) = (await client.get(f"/v1/services/{service_id}")).json()["components"]
        assert web["replicas"] == 2
        async with stack.http("beta") as other:  # another tenant's proposal: not even seen
            assert (await other.post(f"/v1/measures/{proposal['id']}/approve")).status_code == 404

        approved = await client.post(f"/v1/measures/{proposal['id']}/approve", timeout=120)
        assert approved.status_code == 200 and approved.json()["state"] == "done", approved.text
        (web,) = (await client.get(f"/v1/services/{service_id}")).json()["components"]
        assert web["replicas"] == 4
        again = await client.post(f"/v1/measures/{proposal['id']}/reject")
        assert again.status_code == 409, again.text  # carried out: no longer a proposal
    await stack.remove(service_id)


async def ready_on(stack, service_id: str) -> tuple[int, dict[str, int]]:
    (work,) = await stack.sim_workloads(service_id)
    return work.ready_replicas, work.nodes


async def repair_of(stack, service_id: str) -> dict | None:
    async with stack.http() as client:
        ops = (await client.get(f"/v1/services/{service_id}/operations")).json()
    return next((o for o in ops if o["kind"] == "repair"), None)


async def test_a_failed_host_is_healed_once_confirmed_and_a_blip_is_not(stack):
    await policy(stack, approval="auto", confirm_seconds=2)
    service_id = await active(stack, on_milan("steady", 3, 25))
    ready, nodes = await ready_on(stack, service_id)
    assert ready == 3 and len(nodes) >= 2, nodes
    first, second = sorted(nodes)[:2]

    # A blip: NotReady for less than the confirmation window, then back. Nothing acts.
    stack.sim.fail_node(first)
    assert (await autopilot_round(stack)).actions == []
    stack.sim.recover_host(first)
    await asyncio.sleep(2.5)
    assert (await autopilot_round(stack)).actions == []
    assert stack.inventory.open_failures() == {}

    # A failure that lasts: confirmed over the window, then the service's replicas re-created on
    # the nodes left, as its own repair (asked by the autopilot).
    stack.sim.fail_host(second)
    assert (await autopilot_round(stack)).actions == []  # suspect only
    await asyncio.sleep(2.5)
    healed = await autopilot_round(stack)
    (heal,) = healed.actions
    assert heal.startswith(f"heal-{service_id}-work-host-{second}") and "confirmed over 2 s" in heal, heal
    assert healed.outcomes == {"done": 1}
    deadline = time.monotonic() + 60
    while (repair := await repair_of(stack, service_id)) is None or repair["state"] == "running":
        assert time.monotonic() < deadline, (repair, await ready_on(stack, service_id))
        await asyncio.sleep(0.3)
    assert repair["requested_by"] == "autopilot" and repair["state"] == "succeeded", repair
    ready, nodes = await ready_on(stack, service_id)
    assert ready == 3 and second not in nodes, nodes
    await asyncio.sleep(ROUND.window_seconds)
    assert (await autopilot_round(stack)).actions == []  # healed once for this failure, not every round
    measure_id = heal.split(": ", 1)[0]
    async with stack.http() as client:
        measured = (await client.get(f"/v1/measures/{measure_id}")).json()
    assert (measured["state"], measured["helped"]) == ("measured", True), measured

    # Back: healthy for the window, the failure is closed; nothing moves back by itself.
    stack.sim.recover_host(second)
    await autopilot_round(stack)
    await asyncio.sleep(2.5)
    assert (await autopilot_round(stack)).actions == []
    assert stack.inventory.open_failures() == {}
    await stack.remove(service_id)


async def test_a_failed_cluster_is_left_make_before_break_and_cleaned_up_once_back(stack):
    await policy(stack, approval="auto", confirm_seconds=2)
    spec = {"name": "roam", "components": [{"name": "work", "image": "registry.example/roam", "replicas": 2,
                                            "cpu": 1, "memory_mb": 256}]}  # fmt: skip
    service_id = await active(stack, spec)
    async with stack.http() as client:
        (before,) = (await client.get(f"/v1/services/{service_id}")).json()["components"]
    stack.sim.fail_cluster(before["cluster"])
    assert (await autopilot_round(stack)).actions == []  # suspect
    await asyncio.sleep(2.5)
    healed = await autopilot_round(stack)
    (heal,) = healed.actions
    assert f"cluster:{before['cluster']} failed" in heal and f"moved away from {before['site']}" in heal, heal
    assert healed.outcomes == {"done": 1}, healed
    async with stack.http() as client:
        (after,) = (await client.get(f"/v1/services/{service_id}")).json()["components"]
        ops = (await client.get(f"/v1/services/{service_id}/operations")).json()
    assert after["site"] != before["site"] and after["cluster"] != before["cluster"], after
    move = next(o for o in ops if o["kind"] == "move")
    assert (move["requested_by"], move["state"]) == ("autopilot", "succeeded"), move
    (work,) = await stack.sim_workloads(service_id)
    assert work.cluster == after["cluster"] and work.ready_replicas == 2

    # Back: the failure closes, and what the move left at the old site is given back.
    stack.sim.recover_cluster(before["cluster"])
    await autopilot_round(stack)
    await asyncio.sleep(2.5)
    assert (await autopilot_round(stack)).actions == []
    assert stack.inventory.open_failures() == {}
    deadline = time.monotonic() + 60
    while (repair := await repair_of(stack, service_id)) is None or repair["state"] == "running":
        assert time.monotonic() < deadline, repair
        await asyncio.sleep(0.3)
    assert repair["state"] == "succeeded" and "cleaned up" in repair["detail"], repair
    async with stack.http() as client:
        (still,) = (await client.get(f"/v1/services/{service_id}")).json()["components"]
    assert still["site"] == after["site"]  # nothing moves back by itself
    await stack.remove(service_id)
