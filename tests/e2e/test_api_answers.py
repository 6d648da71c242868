"""Answers that tell the truth, through the real HTTP API: errors that send clients the right way,
in the service's terms, with a `message` every time."""

from __future__ import annotations

import asyncio
import time

from tests.e2e.calls import active, operate
from tests.specs import example


def small(**policy) -> dict:
    return {"name": "tiny", "components": [{"name": "app", "image": "registry.example/app", "cpu": 1}],
            "policy": policy}


async def test_malformed_json_says_where(stack):
    async with stack.http() as client:
        resp = await client.post("/v1/services", content=b'{"name": "x",\n  "components": [}',
                                 headers={"Content-Type": "application/json"})
    assert resp.status_code == 422
    assert resp.json()["message"].startswith("body: invalid JSON at line 2, column"), resp.text


async def test_every_error_carries_a_message(stack):
    async with stack.http("operator") as client:
        resp = await client.post("/v1/clusters/paris-cloud-k8s/scale", json={})
        assert resp.status_code == 422 and resp.json()["message"] == resp.json()["detail"], resp.text
        resp = await client.get("/v1/services/nope")
        assert resp.status_code == 404 and "nope" in resp.json()["message"]


async def test_specs_the_continuum_can_never_place_are_refused_at_once(stack):
    cases = [
        (small(allowed_countries=["ZZ"]), "policy.allowed_countries", "no site of the continuum is in ['ZZ']"),
        (small(allowed_providers=["nobody"]), "policy.allowed_providers", "no site of the continuum is in"),
        (small(max_cost_per_hour=0.001), "policy.max_cost_per_hour", "0.001/h is below the cheapest placement"),
        ({**small(allowed_countries=["DE"]), "components": [
            {"name": "app", "image": "x", "placement": {"countries": ["FR"]}}]}, "components.0.placement",
         "no site meets both the policy and the component's placement rules"),
    ]
    async with stack.http() as client:
        for spec, field, text in cases:
            resp = await client.post("/v1/services", json=spec)
            assert resp.status_code == 422, resp.text
            assert f"{field}: {text}" in resp.json()["message"], resp.text
        ok = await client.post("/v1/services", json=small(allowed_countries=["FR"], max_cost_per_hour=1))
        assert ok.status_code == 202, ok.text
    await stack.wait_state(ok.json()["id"], {"active"})
    await stack.remove(ok.json()["id"])


async def test_a_wait_that_times_out_answers_202_with_the_operation_to_follow(stack):
    service_id = await active(stack, example("web-shop"))
    stack.sim.set_ready_delay(4)  # the upgrade takes longer than the caller waits
    started = time.monotonic()
    record = await operate(stack, service_id, "components/api/upgrade", {"version": "1.3.0"}, expect=202, timeout=1)
    assert time.monotonic() - started < 4
    async with stack.http() as client:
        deadline = time.monotonic() + 60
        while (op := (await client.get(record["location"])).json())["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert op["state"] == "succeeded", op
    stack.sim.set_ready_delay(0)
    await stack.remove(service_id)
    async with stack.http() as client:  # a removed service, in its own terms
        resp = await client.post(f"/v1/services/{service_id}/components/api/scale", json={"replicas": 3})
    assert resp.status_code == 409 and resp.json()["message"] == (
        f"service '{service_id}' is terminated: it takes no more operations"), resp.text


async def test_an_idempotency_key_reused_for_another_request_is_refused(stack):
    service_id = await active(stack, example("web-shop"))
    key = {"Idempotency-Key": "key-1"}
    async with stack.http() as client:
        first = await client.post(f"/v1/services/{service_id}/components/api/scale", json={"replicas": 3}, headers=key)
        again = await client.post(f"/v1/services/{service_id}/components/api/scale", json={"replicas": 3}, headers=key)
        other = await client.post(f"/v1/services/{service_id}/components/api/scale", json={"replicas": 4}, headers=key)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert other.status_code == 422 and "key-1 was used for another request" in other.json()["message"], other.text
    [api] = [w for w in await stack.sim_workloads(service_id) if w.component == "api"]
    assert api.replicas == 3  # nothing done twice, nothing done for the other body
    await stack.remove(service_id)


async def test_a_policy_update_says_what_it_breaks_and_an_empty_one_is_refused(stack):
    service_id = await active(stack, example("web-shop"))
    async with stack.http() as client:
        empty = await client.patch(f"/v1/services/{service_id}", json={})
        assert empty.status_code == 422 and "nothing to update" in empty.json()["message"], empty.text
        resp = await client.patch(f"/v1/services/{service_id}", json={"policy": {"allowed_countries": ["DE"]}})
    assert resp.status_code == 200, resp.text
    warnings = resp.json()["warnings"]
    assert warnings and all("not in allowed_countries ['DE']" in w for w in warnings), warnings
    await stack.remove(service_id)


async def test_a_service_shows_what_serves_now_during_a_rolling_upgrade(stack):
    service_id = await active(stack, example("web-shop"))
    stack.sim.set_ready_delay(1.5)
    record = await operate(stack, service_id, "components/api/upgrade", {"version": "1.3.0"}, expect=202, wait="false")
    seen_mixed = None
    async with stack.http() as client:
        deadline = time.monotonic() + 60
        while True:
            [api] = [c for c in (await client.get(f"/v1/services/{service_id}")).json()["components"]
                     if c["name"] == "api"]
            [now] = api["serving"]
            if len(now["versions"]) == 2:
                seen_mixed = now
            if (await client.get(record["location"])).json()["state"] != "running":
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    # mid-rollout: two serving (old and new), fewer updated; named apart
    assert seen_mixed is not None and seen_mixed["ready"] == 2 and seen_mixed["updated"] < 2, seen_mixed
    assert now["versions"] == {"1.3.0": 2} and now["updated"] == 2 and now["cluster"] == api["cluster"]
    async with stack.http() as client:  # the record says how it served meanwhile, from the history
        op = (await client.get(record["location"])).json()
    assert op["continuity"] == {"min_ready": 2, "replicas_before": 2, "replicas_after": 2, "path_connected": None,
                                "measured": "history"}, op
    stack.sim.set_ready_delay(0)
    await stack.remove(service_id)


async def test_a_passing_canary_reads_as_what_it_is(stack):
    service_id = await active(stack, example("web-shop"))
    body = {"version": "1.3.0", "strategy": "canary", "canary": {"replicas": 1, "observe_seconds": 0}}
    record = await operate(stack, service_id, "components/api/upgrade", body)
    assert record["state"] == "succeeded", record
    async with stack.http() as client:
        steps = [s["name"] for s in (await client.get(f"/v1/services/{service_id}")).json()["steps"]]
    assert not [s for s in steps if s.startswith("undo")], steps  # nothing was undone
    # the canary serves until the main rollout is done, then goes
    assert steps.index("canary-gate@api") < steps.index("rolling-upgrade@api") < steps.index("remove-canary@api")
    assert not [w for w in await stack.sim_workloads(service_id) if w.component == "api-canary"]
    await stack.remove(service_id)


async def test_a_refused_move_names_the_sites_it_considered(stack):
    service_id = await active(stack, example("video-analytics"))
    record = await operate(stack, service_id, "components/ingest/move", {"placement": {"tiers": ["cloud"]}})
    assert record["state"] == "refused", record
    detail = record["detail"]
    # the three cloud sites were considered and are too far from ingest's users; the rest never were
    for cloud in ("paris-cloud", "milan-cloud", "frankfurt-cloud"):
        assert f"{cloud}: latency to users in paris-center" in detail.split("excluded")[0], detail
    assert "24 more site(s) excluded by the policy or its placement rules" in detail, detail
    assert "edge-" not in detail.split("excluded")[0], detail
    await stack.remove(service_id)


async def test_a_spec_too_large_for_the_engine_is_refused_up_front(stack):
    spec = small()
    spec["components"][0]["env"] = {"BLOB": "x" * 1_500_000}
    async with stack.http() as client:
        resp = await client.post("/v1/services", json=spec)
    assert resp.status_code == 413, resp.text
    assert "over the limit of 1048576 bytes" in resp.json()["message"] and "retry would not help" in resp.text
    assert stack.inventory.services(None, 0, 10)[1] == 0  # nothing started
