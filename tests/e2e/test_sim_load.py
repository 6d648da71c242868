"""The simulator's load through the real HTTP API (operator only), read back by the telemetry
source for a service deployed through the API: its declared demand, moved by a scripted shift,
loaded by a request cost the operator set."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from legato.model import ServiceSpec
from legato.model.telemetry import Where, deployed_components
from tests.e2e.calls import legato

MIDNIGHT = "2026-12-01T00:00:00Z"


async def test_only_the_operator_steers_the_load_and_bad_input_is_named(stack):
    body = {"area": "lyon", "amplitude": 0.5, "peak_hour": 19}
    async with stack.http() as tenant:
        assert (await tenant.post("/v1/sim/load/daily-curve", json=body)).status_code == 403
        assert (await tenant.get("/v1/sim/load")).status_code == 403
    async with stack.http("operator") as op:
        resp = await op.post("/v1/sim/load/daily-curve", json={**body, "area": "atlantis"})
        assert resp.status_code == 422 and "unknown user area 'atlantis'" in resp.json()["message"], resp.text
        resp = await op.post("/v1/sim/load/shift", json={"from_area": "lyon", "to_area": "lyon", "start": MIDNIGHT,
                                                         "duration_seconds": 0, "share": 0.5})
        assert resp.status_code == 422 and "itself" in resp.json()["message"], resp.text
        assert (await op.post("/v1/sim/load/daily-curve", json={**body, "amplitude": 2})).status_code == 422
        assert (await op.post("/v1/sim/fail-cluster", json={"cluster": "nope"})).status_code == 404

        assert (await op.post("/v1/sim/load/daily-curve", json=body)).status_code == 200
        assert (await op.post("/v1/sim/load/flash-crowd", json={"area": "lyon", "start": MIDNIGHT,
                                                                "duration_seconds": 600, "multiplier": 4})).is_success
        assert (await op.post("/v1/sim/load/compression", json={"factor": 1440, "start": MIDNIGHT})).is_success
        shown = (await op.get("/v1/sim/load")).json()
        midnight = datetime.fromisoformat(MIDNIGHT).timestamp()
        assert shown["factor"] == 1440 and midnight <= shown["sim_now"] < midnight + 1440 * 30
        assert shown["curves"] == {"lyon": {"amplitude": 0.5, "peak_hour": 19, "clock": "local"}}
        assert shown["flash_crowds"] == [{"area": "lyon", "start": midnight, "duration": 600, "multiplier": 4}]
        assert (await op.post("/v1/sim/load/clear")).is_success
        assert (await op.get("/v1/sim/load")).json()["curves"] == {}


async def test_a_deployed_service_sees_its_declared_demand_moved_and_loaded_as_the_operator_scripted(stack):
    spec = {"name": "web", "components": [{"name": "app", "image": "registry.example/app", "cpu": 0.5}],
            "user_areas": [{"area": "paris-center", "demand_rps": 20, "max_latency_ms": 50}]}
    service_id = await stack.deploy(spec)
    await stack.wait_state(service_id, {"active"})
    [workload] = await stack.sim_workloads(service_id)
    site = stack.sim.cluster(workload.cluster).site
    query = deployed_components(ServiceSpec.model_validate(spec), service_id,
                                {"app": [Where(workload.cluster, workload.id, site)]})
    async with stack.http("operator") as op:
        now = datetime.now(UTC).isoformat()
        resp = await op.post("/v1/sim/load/shift", json={"from_area": "paris-center", "to_area": "lyon", "start": now,
                                                         "duration_seconds": 0, "share": 0.5})
        assert resp.status_code == 200, resp.text
        resp = await op.post("/v1/sim/load/request-cost", json={"service_id": service_id, "component": "app",
                                                                "cpu_seconds": 0.05})
        assert resp.status_code == 200, resp.text
    await asyncio.sleep(1.2)
    [kpis] = await stack.adapters.telemetry.components(query, 1.0)
    assert kpis.request_rate_rps == pytest.approx(20)
    assert kpis.areas["paris-center"].request_rate_rps == pytest.approx(10)
    assert kpis.areas["lyon"].request_rate_rps == pytest.approx(10)
    assert kpis.areas["lyon"].latency_p95_ms > kpis.areas["paris-center"].latency_p95_ms  # lyon is further away
    assert kpis.cpu_utilisation == pytest.approx(20 * 0.05 / 0.5)  # 2: overloaded
    assert kpis.error_rate == pytest.approx(0.5)
    async with stack.http("operator") as op:
        assert (await op.post("/v1/sim/load/clear")).is_success
    await stack.remove(service_id)


async def test_the_cli_steers_the_load_and_the_failures_as_the_api_does(stack):
    code, out = await legato(stack, "sim", "curve", "lyon", "0.5", "19", "--clock", "utc")
    assert code == 1 and "403" in out, out  # a tenant may not
    for args, said in [
        (("curve", "lyon", "0.5", "19", "--clock", "utc"), "users in lyon peak at 19h (utc)"),
        (("flash-crowd", "lyon", "3", "--duration", "600", "--start", "2026-12-01T18:00:00"), "3x for 600 s"),
        (("shift", "lyon", "milan", "0.25", "--duration", "3600", "--start", "2026-12-01T08:00:00"),
         "25% of the users of lyon move to milan"),
        (("compress", "1440", "--start", MIDNIGHT), "1440x the real clock"),
        (("request-cost", "some-service", "app", "0.02"), "takes 0.02 CPU-s"),
        (("fail-node", "par-c-h01"), "NotReady (the host still on)"),
        (("recover-host", "par-c-h01"), "host par-c-h01 is back"),
        (("fail-cluster", "paris-cloud-k8s"), "its API does not answer"),
        (("recover-cluster", "paris-cloud-k8s"), "answers again"),
    ]:
        code, out = await legato(stack, "sim", *args, tenant="operator")
        assert code == 0 and said in " ".join(out.split()), (args, out)
    code, out = await legato(stack, "sim", "load", tenant="operator")
    shown = json.loads(out)
    assert shown["curves"]["lyon"]["clock"] == "utc" and shown["shifts"][0]["target"] == "milan", out
    code, out = await legato(stack, "sim", "curve", "atlantis", "0.5", "19", tenant="operator")
    assert code == 1 and "422" in out and "unknown user area 'atlantis'" in out, out
    code, out = await legato(stack, "sim", "load-clear", tenant="operator")
    assert code == 0 and stack.sim.load().curves == {}, out
