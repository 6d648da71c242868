"""GET /v1/measures: what the autopilot did and achieved, each tenant its own services' only."""

from __future__ import annotations

import httpx

from legato.inventory.measure_tables import MeasureRow
from tests.e2e.calls import active
from tests.specs import example


def measure(id_: str, service_id: str, tenant: str, at: float) -> MeasureRow:
    return MeasureRow(id=id_, service_id=service_id, tenant=tenant, component="web", kind="scale",
                      breach="utilisation", reason="utilisation 91% > 75% now: 2 -> 4 replicas",
                      data={"utilisation": 0.91}, decided_at=at, state="measured",
                      before={"cpu_utilisation": 0.91}, after={"cpu_utilisation": 0.47},
                      effect={"cpu_utilisation": -0.44}, helped=True)  # fmt: skip


async def test_each_tenant_reads_its_own_measures_and_an_operator_every_one(stack):
    mine = await active(stack, example("web-shop"))
    theirs = await stack.deploy(example("web-shop"), tenant="beta")
    stack.inventory.measure_recorded(measure("m-1", mine, "alpha", 100.0))
    stack.inventory.measure_recorded(measure("m-2", mine, "alpha", 200.0))
    stack.inventory.measure_recorded(measure("m-3", theirs, "beta", 150.0))

    async with stack.http() as alpha:
        page = await alpha.get("/v1/measures")
        assert page.status_code == 200 and page.headers["X-Total-Count"] == "2"
        assert [m["id"] for m in page.json()["items"]] == ["m-2", "m-1"]  # newest first
        first = page.json()["items"][1]
        assert (first["helped"], first["effect"], first["reason"]) == (
            True, {"cpu_utilisation": -0.44}, "utilisation 91% > 75% now: 2 -> 4 replicas")
        assert (await alpha.get("/v1/measures/m-3")).status_code == 404  # not told it exists
        assert (await alpha.get("/v1/measures", params={"service_id": theirs})).status_code == 404
        assert (await alpha.get("/v1/measures", params={"service_id": mine})).json()["total"] == 2
    async with stack.http("operator") as operator:
        assert (await operator.get("/v1/measures")).json()["total"] == 3
        assert (await operator.get("/v1/measures/m-3")).json()["service_id"] == theirs
    async with httpx.AsyncClient(base_url=stack.base_url) as anonymous:
        assert (await anonymous.get("/v1/measures")).status_code == 401
