"""What a client of the API relies on: clear 4xx naming the field, auth everywhere, tenants apart."""

import copy

import httpx
import pytest

from legato.model.service import scoped_id
from tests.specs import example


def bad(mutate) -> dict:
    spec = copy.deepcopy(example("video-analytics"))
    mutate(spec)
    return spec


INVALID = {
    "unknown link endpoint": (lambda s: s["links"][0].update({"to": "nowhere"}), "links",
                              "unknown component 'nowhere'"),
    "impossible latency": (lambda s: s["user_areas"][0].update({"max_latency_ms": 0.1}),
                           "user_areas.0.max_latency_ms", "impossible latency"),
    "negative resources": (lambda s: s["components"][0].update({"cpu": -2}), "components.0.cpu", "greater than 0"),
    "unknown feature": (lambda s: s["components"][1].update({"features": ["warp-drive"]}),
                        "components.1.features", "unknown feature"),
    "oversize request": (lambda s: s["components"][2].update({"cpu": 512}), "components.2.cpu", "oversize"),
    "unknown area": (lambda s: s["user_areas"][0].update({"area": "atlantis"}), "user_areas.0.area",
                     "unknown user area"),
    "misspelt key": (lambda s: s["components"][0].update({"replica": 3}), "components.0.replica", "Extra inputs"),
}


@pytest.mark.parametrize("case", list(INVALID))
async def test_invalid_spec_is_rejected_naming_the_field(stack, case):
    mutate, field, words = INVALID[case]
    async with stack.http() as client:
        resp = await client.post("/v1/services", json=bad(mutate))
        listed = (await client.get("/v1/services")).json()
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert field in body["message"] and words in body["message"], body["message"]
    assert listed["total"] == 0  # nothing started


async def test_every_route_needs_a_valid_token(stack):
    routes = [("GET", "/v1/services"), ("POST", "/v1/services"), ("GET", "/v1/services/x"),
              ("DELETE", "/v1/services/x"), ("GET", "/v1/sites"), ("GET", "/v1/clusters"), ("GET", "/v1/hosts")]
    async with httpx.AsyncClient(base_url=stack.base_url) as anonymous:
        for method, path in routes:
            assert (await anonymous.request(method, path)).status_code == 401, path
            forged = await anonymous.request(method, path, headers={"Authorization": "Bearer not-a-token"})
            assert forged.status_code == 401, path
            assert "not-a-token" not in forged.text


async def test_tenants_cannot_see_or_touch_each_others_services(stack):
    service_id = await stack.deploy(example("web-shop"), tenant="alpha")
    await stack.wait_state(service_id, {"active"}, tenant="alpha")
    async with stack.http("beta") as beta:
        assert (await beta.get("/v1/services")).json()["total"] == 0
        assert (await beta.get(f"/v1/services/{service_id}")).status_code == 404
        assert (await beta.delete(f"/v1/services/{service_id}")).status_code == 404
        hosts = (await beta.get("/v1/hosts", params={"limit": 1000})).json()["items"]
        assert service_id not in {h["service_id"] for h in hosts}
        # nor take it over by naming the other tenant in the spec
        assert (await beta.post("/v1/services", json={**example("web-shop"), "tenant": "alpha"})).status_code == 403
    async with stack.http("alpha") as alpha:
        assert (await alpha.get(f"/v1/services/{service_id}")).json()["state"] == "active"
    async with stack.http("operator") as operator:
        assert (await operator.get("/v1/services")).json()["total"] == 1


async def test_ids_unknown_and_reused(stack):
    async with stack.http() as client:
        assert (await client.get("/v1/services/no-such-service")).status_code == 404
        spec = {**example("web-shop"), "id": "shop-1"}
        first = await client.post("/v1/services", json=spec)
        mine = scoped_id("alpha", "shop-1")  # a chosen id is the tenant's own
        assert first.status_code == 202 and first.headers["Location"] == f"/v1/services/{mine}"
        again = await client.post("/v1/services", json=spec)  # a retry: the same id, already in use
        assert again.status_code == 409 and mine in again.json()["detail"]
    async with stack.http("beta") as beta:  # another tenant choosing it collides with nothing
        theirs = await beta.post("/v1/services", json=spec)
        assert theirs.status_code == 202 and theirs.json()["id"] == scoped_id("beta", "shop-1") != mine
        too_long = await beta.post("/v1/services", json={**spec, "id": "x" * 60})
        assert too_long.status_code == 422 and "id: at most 54 characters" in too_long.json()["message"]


async def test_continuum_listings_page(stack):
    async with stack.http() as client:
        page = await client.get("/v1/sites", params={"limit": 5, "offset": 5})
        assert page.status_code == 200
        assert len(page.json()["items"]) == 5 and int(page.headers["X-Total-Count"]) == page.json()["total"] > 10
        assert (await client.get("/v1/clusters")).json()["total"] >= 3
        edge = (await client.get("/v1/hosts", params={"site": "paris-edge-1"})).json()["items"]
        assert edge and {h["site"] for h in edge} == {"paris-edge-1"}


async def test_a_service_is_readable_right_after_it_is_accepted(stack):
    async with stack.http() as client:
        accepted = await client.post("/v1/services", json=example("web-shop"))
        right_away = await client.get(accepted.headers["Location"])
    assert right_away.status_code == 200, right_away.text
    assert right_away.json()["state"] in {"accepted", "placing", "provisioning", "deploying", "connecting", "active"}
    async with stack.http("beta") as beta:
        assert (await beta.get(accepted.headers["Location"])).status_code == 404
