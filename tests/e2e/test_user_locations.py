"""User areas changed on a running service, through the real API and the real dev server: PATCH's
`user_areas` changes an area's demand (what the simulator's load and the autopilot read) and
refuses, naming the field, what the user QoS would have to follow; location reports become the
areas' demand, applied at most once per interval — a burst coalesced into one update, the latest
report winning, the last one applied by the autopilot's round without waiting for another; a TMF
modify of the `userAreas` characteristic is the same update."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.test_autopilot import autopilot_round, policy
from tests.e2e.test_following_users import SPEC
from tests.stack import running_stack
from tests.tmf import ORDERING, modify, order, wait_order

INTERVAL = 2.0


@pytest.fixture
async def stack(tmp_path, temporal_server):
    async with running_stack(tmp_path / "legato", temporal_server.address,
                             user_locations_interval_seconds=INTERVAL) as s:
        yield s


def demand(stack, service_id: str) -> float:
    return stack.inventory.service(service_id).spec["user_areas"][0]["demand_rps"]


async def test_patch_changes_an_areas_demand_and_refuses_what_the_connections_cannot_follow(stack):
    service_id = await stack.deploy(SPEC)
    await stack.wait_state(service_id, {"active"})
    area = SPEC["user_areas"][0]
    async with stack.http() as client:
        resp = await client.patch(f"/v1/services/{service_id}", json={"user_areas": [{**area, "demand_rps": 80}]})
        assert resp.status_code == 200 and resp.json()["state"] == "succeeded", resp.text
        assert demand(stack, service_id) == 80

        added = await client.patch(f"/v1/services/{service_id}", json={"user_areas": [area, {"area": "milan"}]})
        assert added.status_code == 422 and "not built yet" in added.text, added.text
        qos = await client.patch(f"/v1/services/{service_id}", json={"user_areas": [{**area, "max_latency_ms": 20}]})
        assert qos.status_code == 422, qos.text
        (err,) = qos.json()["detail"]
        assert err["loc"] == ["body", "user_areas", 0, "max_latency_ms"], err
        unknown = await client.patch(f"/v1/services/{service_id}", json={"user_areas": [{**area, "component": "db"}]})
        assert unknown.status_code == 422 and "unknown component 'db'" in unknown.text, unknown.text
    async with stack.http("beta") as other:
        assert (await other.patch(f"/v1/services/{service_id}", json={"user_areas": [area]})).status_code == 404
    assert demand(stack, service_id) == 80
    await stack.remove(service_id)


async def test_location_reports_become_demand_at_most_once_per_interval(stack):
    await policy(stack, approval="auto")
    service_id = await stack.deploy(SPEC)
    await stack.wait_state(service_id, {"active"})
    url = f"/v1/services/{service_id}/user-locations"
    paris = "paris-center"
    async with stack.http() as client:
        first = await client.post(url, json={"source": "nef", "areas": [{"area": paris, "users": 1000}]})
        assert first.status_code == 200 and first.json()["applied"] is True, first.text
        assert demand(stack, service_id) == 40  # the first population is the base: 40 req/s for 1000 users

        burst = [await client.post(url, json={"areas": [{"area": paris, "users": n}]}) for n in (2000, 3000)]
        assert [r.status_code for r in burst] == [202, 202], [r.text for r in burst]
        assert burst[-1].json()["recorded"] == {paris: 120.0}
        assert demand(stack, service_id) == 40  # within the interval: waiting

        bad = await client.post(url, json={"areas": [{"area": "milan", "users": 5}]})
        assert bad.status_code == 422 and "not one of the service's user areas" in bad.text, bad.text
        neither = await client.post(url, json={"areas": [{"area": paris}]})
        assert neither.status_code == 422, neither.text
    async with stack.http("beta") as other:
        assert (await other.post(url, json={"areas": [{"area": paris, "users": 1}]})).status_code == 404

    await asyncio.sleep(INTERVAL)
    await autopilot_round(stack)  # no report came after the burst: the round applies the latest
    assert demand(stack, service_id) == 120
    async with stack.http() as client:
        ops = (await client.get(f"/v1/services/{service_id}/operations")).json()
        updates = [o for o in ops if o["requested_by"] == "user-locations"]
        assert len(updates) == 2 and all(o["state"] == "succeeded" for o in updates), updates  # 3 reports, 2 updates
        reports = (await client.get(url)).json()
    assert [r["users"] for r in reports] == [3000, 2000, 1000]
    assert reports[0]["operation"] == reports[1]["operation"] != reports[2]["operation"]
    await stack.remove(service_id)


async def test_a_tmf_modify_of_user_areas_changes_the_demand_and_refuses_a_new_area(stack):
    service_id = await stack.deploy(SPEC)
    await stack.wait_state(service_id, {"active"})
    area = SPEC["user_areas"][0]
    async with stack.http() as client:
        added = await client.post(f"{ORDERING}/serviceOrder", json=order(modify(
            service_id, userAreas=[area, {"area": "milan"}])))
        assert added.status_code == 400 and "(userAreas).value" in added.text, added.text
        created = await client.post(f"{ORDERING}/serviceOrder", json=order(modify(
            service_id, userAreas=[{**area, "demand_rps": 65}])))
        assert created.status_code == 201, created.text
        done = await wait_order(client, created.json()["id"], {"completed", "failed"})
        assert done["state"] == "completed", done
        ops = (await client.get(f"/v1/services/{service_id}/operations")).json()
    assert any(o["kind"] == "update" and o["state"] == "succeeded" for o in ops), ops
    assert demand(stack, service_id) == 65
    await stack.remove(service_id)
