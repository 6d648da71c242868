"""Rebalancing: running services re-optimised against today's prices and rules; proposals an
operator approves (or the schedule carries out in `auto` mode) move a component make-before-break."""

import time

from legato.model import ServiceSpec
from legato.placement import place
from legato.placement.rebalance import Running, propose
from legato.schedules import ensure_schedules, rebalance_id
from legato.temporal import connect
from legato.topology_loader import load_topology
from legato.workflows.rebalance import RebalanceParams
from tests.e2e.calls import active, component_workloads, day2, legato
from tests.specs import example

TOPOLOGY = "deploy/topologies/default.yaml"


def _placed(spec: ServiceSpec, topology) -> Running:
    decision = place(spec, topology, {})
    assert decision.feasible, decision.infeasible_reason
    return Running(spec, {p.component: p.site for p in decision.components})


def test_a_fresh_placement_has_nothing_to_gain_and_a_price_rise_moves_only_what_it_hurts():
    topology = load_topology(TOPOLOGY)
    spec = ServiceSpec.model_validate({**example("video-analytics"), "id": "va", "tenant": "alpha"})
    running = _placed(spec, topology)
    assert propose([running], topology, {}, min_gain=0.01) == []

    pricey = running.sites["analytics"]
    topology.sites[pricey].cost_per_vcpu_hour *= 20
    [option] = propose([running], topology, {}, min_gain=0.1)
    assert (option.component, option.from_site) == ("analytics", pricey)
    assert option.to_site != pricey and option.new_score < option.current_score
    assert option.gain >= 0.1 and f"at {pricey}" in option.reason
    # the same move, re-placed with the others pinned, is what placement would choose now
    assert place(spec, topology, {}).site_of("analytics") == option.to_site
    assert propose([running], topology, {}, min_gain=0.99) == []  # below the operator's threshold


def test_a_site_the_policy_now_forbids_is_left_whatever_the_threshold():
    topology = load_topology(TOPOLOGY)
    spec = ServiceSpec.model_validate({**example("web-shop"), "id": "shop", "tenant": "alpha"})
    running = _placed(spec, topology)
    country = {topology.sites[s].country for s in running.sites.values()}
    others = sorted({s.country for s in topology.sites.values()} - country)
    ruled = ServiceSpec.model_validate({**spec.model_dump(by_alias=True),
                                        "policy": {**spec.policy.model_dump(), "allowed_countries": others}})
    [option] = propose([Running(ruled, running.sites)], topology, {}, min_gain=0.99)
    assert option.gain == 1.0 and option.current_score is None and "breaks a rule" in option.reason
    assert topology.sites[option.to_site].country in others


async def _rebalance(stack, mode: str) -> dict:
    client = await connect(stack.settings)
    return await client.execute_workflow("Rebalance", RebalanceParams(mode=mode, min_gain=0.1),
                                         id=f"rebalance-test-{time.monotonic_ns()}",
                                         task_queue=stack.settings.task_queue)


async def _raise_price(stack, site: str) -> None:
    async with stack.http("alpha") as http:
        assert (await http.patch(f"/v1/sites/{site}", json={"cost_per_vcpu_hour": 5})).status_code == 403
    async with stack.http("operator") as http:
        resp = await http.patch(f"/v1/sites/{site}", json={"cost_per_vcpu_hour": 5})
        assert resp.status_code == 200, resp.text
        assert (await http.patch(f"/v1/sites/{site}", json={"cost": 1})).status_code == 422
        assert (await http.patch("/v1/sites/atlantis", json={"carbon_g_per_kwh": 1})).status_code == 404


async def test_approved_proposal_moves_the_component_once_and_only_its_tenant_sees_it(stack):
    service_id = await active(stack, example("video-analytics"))
    [before] = await component_workloads(stack, service_id, "analytics")
    async with stack.http() as http:
        site = {c["name"]: c for c in (await http.get(f"/v1/services/{service_id}")).json()["components"]}
    source = site["analytics"]["site"]
    await _raise_price(stack, source)

    await _rebalance(stack, "approve")
    assert await component_workloads(stack, service_id, "analytics") == [before]  # approve mode: nothing moves
    async with stack.http() as http:
        [proposal] = (await http.get("/v1/proposals", params={"state": "pending"})).json()["items"]
    assert (proposal["service_id"], proposal["component"], proposal["from_site"]) == (service_id, "analytics", source)
    code, out = await legato(stack, "proposals")
    assert code == 0 and proposal["id"] in out and "analytics" in out, out
    async with stack.http("beta") as http:
        assert (await http.get("/v1/proposals")).json()["items"] == []
        assert (await http.post(f"/v1/proposals/{proposal['id']}/approve")).status_code == 404
    await _rebalance(stack, "approve")  # a second scan keeps the one pending proposal
    async with stack.http() as http:
        assert [p["id"] for p in (await http.get("/v1/proposals")).json()["items"]] == [proposal["id"]]

        since = time.time()
        resp = await http.post(f"/v1/proposals/{proposal['id']}/approve", timeout=120)
        assert resp.status_code == 200, resp.text
        done = resp.json()
        assert done["state"] == "done" and done["decided_by"] == "alpha", done
        assert (await http.post(f"/v1/proposals/{proposal['id']}/approve")).status_code == 409
        assert (await http.post(f"/v1/proposals/{proposal['id']}/reject")).status_code == 409
    code, out = await legato(stack, "approve", proposal["id"])
    assert code == 1 and "409" in out and "is done" in out, out
    async with stack.http() as http:
        ops = day2((await http.get(f"/v1/services/{service_id}/operations")).json())
    assert [(o["request_id"], o["kind"], o["state"]) for o in ops] == [(proposal["id"], "move", "succeeded")]
    [moved] = await component_workloads(stack, service_id, "analytics")
    assert stack.sim.cluster(moved.cluster).site == proposal["to_site"] != source
    assert stack.sim.serving(service_id, "analytics", since).min_ready >= 1  # make-before-break
    await stack.remove(service_id)


async def test_auto_mode_carries_moves_out_and_schedule_is_kept(stack):
    client = await connect(stack.settings)
    await ensure_schedules(client, stack.settings)
    described = await client.get_schedule_handle(rebalance_id(stack.settings)).describe()
    assert described.schedule.action.workflow == "Rebalance"
    assert described.schedule.spec.intervals[0].every.total_seconds() == stack.settings.rebalance_every_seconds

    service_id = await active(stack, example("video-analytics"))
    async with stack.http() as http:
        site = {c["name"]: c for c in (await http.get(f"/v1/services/{service_id}")).json()["components"]}
    await _raise_price(stack, site["analytics"]["site"])
    summary = await _rebalance(stack, "auto")
    assert summary["outcomes"] == {"done": 1}, summary
    async with stack.http() as http:
        [proposal] = (await http.get("/v1/proposals")).json()["items"]
        after = {c["name"]: c for c in (await http.get(f"/v1/services/{service_id}")).json()["components"]}
    assert proposal["state"] == "done" and proposal["decided_by"] == "rebalance"
    assert after["analytics"]["site"] == proposal["to_site"] != site["analytics"]["site"]
    spec = stack.inventory.service(service_id).spec
    assert {c["name"]: c for c in spec["components"]}["analytics"]["placement"]["sites"] is None  # not pinned
    assert (await _rebalance(stack, "auto"))["proposals"] == 0  # where it is now is the best
    await stack.remove(service_id)
