"""The autopilot on the sim, through the real API and the real dev server: a component loaded
above its SLO's utilisation band is scaled out by an Autopilot round, as its own day-2 operation
asked by `autopilot`, with the reason and figures in the measures; nothing more within the
cooldown; the action's effect measured after; in approval mode only a proposal is recorded."""

from __future__ import annotations

import uuid

import pytest

from legato.activities.contracts import AutopilotRound
from legato.temporal import connect
from legato.workflows.autopilot import Autopilot, AutopilotSummary

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
