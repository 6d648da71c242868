"""Two Legatos federated on one machine (each its own Temporal dev server, inventory, continuum and
API port): roaming users served by the partner, teardown at both, a partner down, a partner over
quota, a partner crash mid-request, and forged, replayed and unknown-partner calls refused."""

import asyncio
import json
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from legato.api.federation import remote_service_id
from legato.federation.client import API, PartnerClient
from legato.federation.signing import SCHEME, sign_request
from legato.model.federation import partner_tenant
from tests.federation import DOWN, HOME, PARTNER, ROAMING, federated_pair
from tests.stack import TOKENS


@pytest.fixture(scope="module")
async def pair(tmp_path_factory):
    async with federated_pair(tmp_path_factory.mktemp("federation"), partner_worker="process") as sides:
        yield sides


def remote_of(home_stack, service_id: str) -> str:
    [part] = home_stack.inventory.federated_parts(service_id)
    return part.remote_id


async def assert_gone_at_partner(partner_stack, remote_id: str) -> None:
    row = partner_stack.inventory.service(remote_id)
    assert row is not None and row.state == "terminated", row
    left = partner_stack.sim.leftovers(remote_id)
    assert left == {k: 0 for k in left}, f"leaked at the partner: {left}"
    assert partner_stack.inventory.components(remote_id) == []


async def test_roaming_users_are_served_by_the_partner_and_terminate_removes_both(pair):
    home, partner = pair
    service_id = await home.stack.deploy(ROAMING)
    svc = await home.stack.wait_state(service_id, {"active", "failed"}, timeout=180)
    assert svc["state"] == "active", svc.get("error")

    federated = {f["component"]: f for f in svc["placement"]["federated"]}
    assert set(federated) == {"edge-app", "cache"} and federated["edge-app"]["partner"] == PARTNER
    assert "madrid" in federated["edge-app"]["reason"]
    assert [p["component"] for p in svc["placement"]["components"]] == ["web"]
    endpoints = {e["component"]: e for e in svc["endpoints"]}
    assert set(endpoints) == {"web", "edge-app", "cache"}
    assert endpoints["edge-app"]["site"].startswith(f"{PARTNER}:madrid") and endpoints["edge-app"]["address"]

    [part] = svc["federated"]
    assert (part["partner"], part["state"], sorted(part["components"])) == (PARTNER, "active", ["cache", "edge-app"])

    # The partner runs it as an ordinary service of the tenant that stands for us.
    remote_id = remote_of(home.stack, service_id)
    assert part["remote_id"] == remote_id
    row = partner.stack.inventory.service(remote_id)
    assert (row.tenant, row.state) == (partner_tenant(HOME), "active")
    assert {w.component for w in await partner.stack.sim_workloads(remote_id)} == {"edge-app", "cache"}
    assert {w.component for w in await home.stack.sim_workloads(service_id)} == {"web"}

    # Day-2 on a federated component is forwarded; moving it is not ours to do.
    async with home.stack.http() as client:
        resp = await client.post(f"/v1/services/{service_id}/components/edge-app/scale", json={"replicas": 3})
        assert resp.status_code == 200 and resp.json()["state"] == "succeeded", resp.text
        resp = await client.post(f"/v1/services/{service_id}/components/edge-app/upgrade", json={"version": "1.1"})
        assert resp.status_code == 200 and resp.json()["state"] == "succeeded", resp.text
        moved = await client.post(f"/v1/services/{service_id}/components/edge-app/move", json={"site": "paris-cloud"})
        assert moved.status_code == 422 and "partner" in moved.text
    [edge] = [c for c in partner.stack.inventory.components(remote_id) if c.name == "edge-app"]
    assert (edge.replicas, edge.version) == (3, "1.1")

    await home.stack.remove(service_id)
    assert home.stack.inventory.federated_parts(service_id) == []
    await assert_gone_at_partner(partner.stack, remote_id)


async def test_partner_down_fails_cleanly_after_retries_with_nothing_left(pair):
    home, _ = pair
    spec = {**ROAMING, "name": "to-lisbon",
            "user_areas": [{"area": "paris-center", "component": "web"}, {"area": "lisbon", "component": "edge-app"}]}
    service_id = await home.stack.deploy(spec)
    svc = await home.stack.wait_state(service_id, {"active", "failed"}, timeout=120)
    assert svc["state"] == "failed"
    assert "unreachable" in svc["error"] and "gave up after 3 attempts" in svc["error"], svc["error"]
    assert {f["partner"] for f in svc["placement"]["federated"]} == {DOWN}
    assert {s["name"]: s["state"] for s in svc["steps"]}[f"undo federate@{DOWN}"] == "compensated"
    home.stack.assert_nothing_left(service_id)
    assert home.stack.inventory.federated_parts(service_id) == []


async def test_partner_over_quota_is_refused_with_a_reason(pair):
    home, partner = pair
    big = {**ROAMING, "name": "too-big", "components": [
        {**c, "cpu": 8} if c["name"] == "edge-app" else c for c in ROAMING["components"]]}
    service_id = await home.stack.deploy(big)
    svc = await home.stack.wait_state(service_id, {"active", "failed"}, timeout=120)
    assert svc["state"] == "failed"
    assert "PartnerRefused" in svc["error"] and "quota exceeded: 16.5 vCPU asked" in svc["error"], svc["error"]
    home.stack.assert_nothing_left(service_id)
    request_id = f"{service_id}.{PARTNER}"
    assert partner.stack.inventory.service(remote_service_id(HOME, request_id)) is None


async def signed(fed, method: str, path: str, body: bytes = b"", **kwargs) -> tuple[str, bytes]:
    token, _ = sign_request(fed, PARTNER, method, path, body, **kwargs)
    return token, body


async def test_forged_replayed_expired_and_unknown_calls_are_refused_and_start_nothing(pair):
    home, partner = pair
    fed = home.federation()
    before = partner.stack.inventory.services(None, 0, 1000)[1]
    body = json.dumps({"request_id": "r-sec", "spec": {"name": "x", "components": [{"name": "a", "image": "i"}],
                                                       "user_areas": [{"area": "atlantis"}]}}).encode()

    async with httpx.AsyncClient(base_url=partner.stack.base_url) as http:
        async def post(token: str, content: bytes = body) -> httpx.Response:
            return await http.post(API, content=content, headers={"Authorization": f"{SCHEME} {token}"})

        token, _ = sign_request(fed, PARTNER, "POST", API, body)
        first = await post(token)
        assert first.status_code == 422 and "unknown user area" in first.text  # authenticated, then validated
        replay = await post(token)
        assert replay.status_code == 401 and "replayed" in replay.text

        altered, _ = sign_request(fed, PARTNER, "POST", API, body)
        assert (await post(altered, body.replace(b"r-sec", b"r-alt"))).status_code == 401

        expired, _ = sign_request(fed, PARTNER, "POST", API, body, now=time.time() - 3600)
        assert "expired" in (await post(expired)).text

        stranger = fed.__class__(self_id="op-zz", signing_key=Ed25519PrivateKey.generate(), partners={})
        unknown, _ = sign_request(stranger, PARTNER, "POST", API, body)
        resp = await post(unknown)
        assert resp.status_code == 401 and "unknown partner" in resp.text

        forger = fed.__class__(self_id=HOME, signing_key=Ed25519PrivateKey.generate(), partners={})
        forged, _ = sign_request(forger, PARTNER, "POST", API, body)
        resp = await post(forged)
        assert resp.status_code == 401 and "bad signature" in resp.text

        unsigned = await http.post(API, content=body, headers={"Authorization": f"Bearer {TOKENS['alpha']}"})
        assert unsigned.status_code == 401
    assert partner.stack.inventory.services(None, 0, 1000)[1] == before  # nothing started

    # A partner reaches only what it created: another tenant's service is invisible to it.
    own = await partner.stack.deploy({"name": "local-only", "components": [{"name": "a", "image": "i"}]})
    client = PartnerClient(fed, fed.partner(PARTNER))
    assert await client.get(own) is None and await client.delete(own) is None
    assert (await client.call("POST", f"{API}/{own}/operations", {
        "kind": "scale", "component": "a", "scale": {"replicas": 2, "request_id": "x"}}))[0] == 404
    await partner.stack.wait_state(own, {"active"})
    await partner.stack.remove(own)

    # The partners list shows no key material.
    async with home.stack.http() as http:
        listed = await http.get("/v1/federation/partners")
    assert listed.status_code == 200 and {p["id"] for p in listed.json()} == {PARTNER, DOWN}
    assert "BEGIN" not in listed.text and "key" not in listed.text


async def test_partner_crash_mid_request_then_restart_completes(pair):
    home, partner = pair
    partner.stack.sim.set_latency("wdm.deploy", 4.0)
    service_id = await home.stack.deploy({**ROAMING, "name": "crash-test"})
    remote_id = remote_service_id(HOME, f"{service_id}.{PARTNER}")
    deadline = time.monotonic() + 90
    while (row := partner.stack.inventory.service(remote_id)) is None or row.state != "deploying":
        assert time.monotonic() < deadline, "the partner never started deploying"
        await asyncio.sleep(0.2)

    partner.stack.worker_procs[0].kill()  # the partner's Legato dies: worker, API, Temporal
    await partner.stop()
    partner.server.stop()
    await asyncio.sleep(2)
    await partner.start()
    partner.stack.sim.set_latency("wdm.deploy", 0.0)

    svc = await home.stack.wait_state(service_id, {"active", "failed"}, timeout=240)
    assert svc["state"] == "active", svc.get("error")
    workloads = await partner.stack.sim_workloads(remote_id)
    assert sorted(w.component for w in workloads) == ["cache", "edge-app"] and all(w.ready for w in workloads)
    assert partner.stack.sim.duplicate_allocations() == 0
    await home.stack.remove(service_id)
    await assert_gone_at_partner(partner.stack, remote_id)
