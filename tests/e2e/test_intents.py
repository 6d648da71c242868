"""The intent database through the real HTTP API: a service's SLOs accepted, shown and changed on a
running service, bad ones refused naming the field; the operator's autopilot policy readable by
tenants, set by an operator only, bad values refused; and the policy that bounds one service."""

from tests.e2e.calls import active, day2, legato
from tests.specs import example

SLOS = [{"component": "frontend", "p95_latency_ms": 10, "max_error_rate": 0.01},
        {"component": "api", "utilisation": [0.3, 0.75], "availability": 0.999}]


async def test_slos_are_accepted_shown_and_changed_on_a_running_service(stack):
    service_id = await active(stack, {**example("web-shop"), "slos": SLOS, "autopilot": {"approval": "approve"}})
    async with stack.http() as client:
        shown = (await client.get(f"/v1/services/{service_id}")).json()["spec"]
        assert shown["slos"] == [{"area": None, "p95_latency_ms": None, "max_error_rate": None, "utilisation": None,
                                  "availability": None, **s} for s in SLOS]
        assert shown["autopilot"] == {"enabled": True, "approval": "approve"}

        changed = [{"component": "frontend", "area": "milan", "p95_latency_ms": 8}]
        resp = await client.patch(f"/v1/services/{service_id}", json={"slos": changed, "autopilot": {"enabled": False}})
        assert resp.status_code == 200 and resp.json()["state"] == "succeeded", resp.text
        shown = (await client.get(f"/v1/services/{service_id}")).json()["spec"]
        assert [(s["component"], s["area"], s["p95_latency_ms"]) for s in shown["slos"]] == [("frontend", "milan", 8)]
        assert shown["autopilot"] == {"enabled": False, "approval": "auto"}
        assert [c["name"] for c in shown["components"]] == ["frontend", "api", "db"]  # the rest kept
        bounds = (await client.get(f"/v1/services/{service_id}/autopilot")).json()
        assert bounds["enabled"] is False and bounds["stricter_by_service"] == ["enabled"]

        # refused on a running service as at creation, the spec unchanged; another tenant's is unknown
        for bad, message in (([{"component": "db", "p95_latency_ms": 5}], "'db' is the entry of no user area"),
                             ([{"component": "frontend", "p95_latency_ms": 0.5}], "impossible latency: 0.5 ms")):
            refused = await client.patch(f"/v1/services/{service_id}", json={"slos": bad})
            assert refused.status_code == 422 and message in refused.json()["message"], refused.text
        logged = day2((await client.get(f"/v1/services/{service_id}/operations")).json())
        assert [[(s["component"], s["area"], s["p95_latency_ms"]) for s in o["params"]["slos"]] for o in logged] \
            == [[("frontend", "milan", 8)]]  # the change, once; the refused ones never reached the service
    async with stack.http("beta") as other:
        for resp in (await other.patch(f"/v1/services/{service_id}", json={"slos": []}),
                     await other.get(f"/v1/services/{service_id}/autopilot")):
            assert resp.status_code == 404, resp.text
    await stack.remove(service_id)


async def test_bad_slos_are_refused_at_creation_naming_the_field(stack):
    cases = [
        ([{"component": "web", "max_error_rate": 0.1}], "slos[0].component: unknown component 'web'"),
        ([{"component": "api", "area": "paris", "max_error_rate": 0.1}],
         "slos[0].area: 'paris' is not a user area of this service"),
        ([{"component": "frontend", "p95_latency_ms": 50}],
         "50 ms is looser than area 'milan' asks (max_latency_ms 12)"),
        ([{"component": "frontend", "p95_latency_ms": 0.5}],
         "impossible latency: 0.5 ms, but the nearest site to milan is 1 ms away"),
        ([{"component": "api", "utilisation": [0.9, 0.2]}], "0 < low < high <= 1"),
        ([{"component": "api"}], "an SLO sets at least one objective"),
    ]
    async with stack.http() as client:
        for slos, message in cases:
            resp = await client.post("/v1/services", json={**example("web-shop"), "slos": slos})
            assert resp.status_code == 422, resp.text
            assert message in resp.text, resp.text
        listed = (await client.get("/v1/services")).json()
    assert listed["total"] == 0  # nothing started


async def test_the_autopilot_policy_is_read_by_anyone_and_set_by_an_operator(stack):
    async with stack.http("alpha") as tenant, stack.http("operator") as operator:
        first = await tenant.get("/v1/autopilot/policy")
        assert first.status_code == 200 and first.json()["approval"] == "approve" and first.json()["updated_by"] is None

        wanted = {"approval": "auto", "actions": ["scale", "heal"], "max_replicas": 6, "max_cost_per_hour": 40,
                  "allowed_sites": ["paris-edge-1", "milan-edge-1"], "cooldown_seconds": 120,
                  "max_actions_per_hour": 4, "confirm_seconds": 20}
        refused = await tenant.put("/v1/autopilot/policy", json=wanted)
        assert refused.status_code == 403 and "operator" in refused.json()["message"]
        assert (await tenant.get("/v1/autopilot/policy")).json() == first.json()  # nothing changed

        done = await operator.put("/v1/autopilot/policy", json=wanted)
        assert done.status_code == 200, done.text
        seen = (await tenant.get("/v1/autopilot/policy")).json()
        assert {k: seen[k] for k in wanted} == wanted
        assert seen["enabled"] is True and seen["updated_by"] == "operator"

        for bad, message in (({"max_replicas": 0}, "max_replicas"), ({"approval": "maybe"}, "approval"),
                             ({"actions": ["teleport"]}, "actions"), ({"cooldown_seconds": -5}, "cooldown_seconds"),
                             ({"max_cost_per_hour": 0}, "max_cost_per_hour"), ({"confirm": 3}, "confirm"),
                             ({"allowed_sites": ["paris-edge-1", "atlantis-edge"]}, "unknown site 'atlantis-edge'")):
            resp = await operator.put("/v1/autopilot/policy", json=bad)
            assert resp.status_code == 422 and message in resp.text, resp.text
        unknown = await operator.put("/v1/autopilot/policy", json={"allowed_sites": ["paris-edge-1", "atlantis-edge"]})
        assert [e["loc"] for e in unknown.json()["detail"]] == [["body", "allowed_sites", 1]], unknown.text
        assert (await tenant.get("/v1/autopilot/policy")).json() == seen  # a refused PUT changes nothing

        # a tenant's spec makes it stricter for its service, never looser
        service_id = await active(stack, {**example("web-shop"), "autopilot": {"approval": "approve"},
                                          "policy": {"max_cost_per_hour": 500}})
        bounds = (await tenant.get(f"/v1/services/{service_id}/autopilot")).json()
        assert (bounds["approval"], bounds["max_cost_per_hour"], bounds["max_replicas"]) == ("approve", 40, 6)
        assert bounds["stricter_by_service"] == ["approval"]
        await stack.remove(service_id)
        assert (await operator.put("/v1/autopilot/policy", json={})).json()["approval"] == "approve"  # the defaults


async def test_the_cli_shows_the_policy_and_an_operator_sets_it(stack):
    code, out = await legato(stack, "autopilot", "policy", "set", "--approval", "auto", "--max-replicas", "7",
                             "--actions", "scale,heal", "--allowed-sites", "paris-edge-1", "--max-cost-per-hour",
                             "25", "--cooldown", "90", tenant="operator")
    assert code == 0, out
    code, out = await legato(stack, "autopilot", "policy", "set", "--max-replicas", "9")  # a tenant's token
    assert code == 1 and "403" in out and "operator" in out, out
    code, out = await legato(stack, "autopilot", "policy")
    assert code == 0, out
    shown = dict(line.split(None, 1) for line in out.splitlines() if line.strip() and not line.startswith("set by"))
    assert {k: shown[k].strip() for k in ("approval", "max_replicas", "actions", "allowed_sites", "max_cost_per_hour",
                                          "cooldown_seconds", "confirm_seconds")} == {
        "approval": "auto", "max_replicas": "7", "actions": "scale, heal", "allowed_sites": "paris-edge-1",
        "max_cost_per_hour": "25", "cooldown_seconds": "90.0", "confirm_seconds": "30.0"}  # the rest kept
    assert "set by operator" in out
    code, out = await legato(stack, "autopilot", "policy", "set", "--allowed-sites", "any", "--max-cost-per-hour",
                             "none", "--max-replicas", "0", tenant="operator")
    assert code == 1 and "422" in out and "max_replicas" in out, out
